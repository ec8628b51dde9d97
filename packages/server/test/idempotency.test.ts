import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../src/config.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { apiKeyPrincipal } from '../src/auth/principal.js';
import type { IdempotencyStore } from '../src/idempotency/idempotency.js';

const LEASE_MS = 3000;
import { MemoryIdempotencyStore } from '../src/idempotency/memory.js';
import { PostgresIdempotencyStore } from '../src/idempotency/postgres.js';
import { Idempotency } from '../src/idempotency/service.js';
import { SqliteIdempotencyStore } from '../src/idempotency/sqlite.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type {
  AppendOptions,
  ChannelHead,
  EventInput,
  RetentionPolicy,
  Store,
  StoredEvent,
} from '../src/store/store.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { httpRequest } from './limits-helpers.js';
import { dropSchema, PG_URL as pgUrl, uniqueSchema } from './pg-helpers.js';
import { RawSse } from './sse-client.js';

/**
 * A store whose appends wait at a gate the test opens: it holds a publish "in flight" so a
 * duplicate can arrive meanwhile. It exposes the real store as `inner`, which is where the
 * idempotency records are kept (the same database).
 */
class GatedStore implements Store {
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => {};
  appendsWaiting = 0;
  constructor(readonly inner: Store) {}
  close_gate(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  open_gate(): void {
    this.openGate();
  }
  init(): Promise<void> {
    return this.inner.init();
  }
  ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    return this.inner.ensureChannels(channels);
  }
  async append(events: readonly EventInput[], options?: AppendOptions): Promise<StoredEvent[]> {
    this.appendsWaiting++;
    await this.gate;
    this.appendsWaiting--;
    return this.inner.append(events, options);
  }
  readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    return this.inner.readAfter(channel, after, limit);
  }
  trim(policy: RetentionPolicy, now: number): Promise<number> {
    return this.inner.trim(policy, now);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Backend {
  name: string;
  /** The configuration of a fresh database of this backend; `done` drops what it made. */
  make(): { config: Partial<Config>; done: () => Promise<void> };
}

const backends: Backend[] = [
  { name: 'SQLite', make: () => ({ config: {}, done: async () => {} }) },
  {
    name: 'PostgreSQL',
    make: () => {
      const schema = uniqueSchema('herald_idem');
      return {
        config: { databaseUrl: pgUrl, databaseSchema: schema },
        done: () => dropSchema(schema),
      };
    },
  },
];

for (const backend of backends) {
  describe(`idempotency keys on publish (${backend.name})`, () => {
    const cleanup: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const f of cleanup.splice(0).reverse()) await f();
    });

    async function server(overrides: Partial<Config> = {}) {
      const dataDir = mkdtempSync(join(tmpdir(), 'herald-idem-'));
      const { config, done } = backend.make();
      let gated: GatedStore | undefined;
      const t = await startServer(
        { ...overrides, ...config, dataDir },
        { wrapStore: (s) => (gated = new GatedStore(s)) },
      );
      if (!gated) throw new Error('the store was not wrapped');
      cleanup.push(async () => {
        await t.close();
        await done();
        rmSync(dataDir, { recursive: true, force: true });
      });
      return { t, gated };
    }

    /** Notifications stored on a user channel (the inbox may store other events beside them). */
    const notifications = async (t: TestServer, channel: string) =>
      (await t.server.hub.store.readAfter(channel, 0, 100)).filter((e) => e.type === 'notification')
        .length;

    const post = (t: TestServer, path: string, body: unknown, key?: string, extra = {}) =>
      httpRequest(t.url + path, {
        headers: { 'x-herald-key': API_KEY, ...(key ? { 'idempotency-key': key } : {}), ...extra },
        body,
      });

    it('the same key twice stores and delivers once and answers the same 202 body', async () => {
      const { t } = await server();
      const token = await t.token('kim');
      const s = await RawSse.open(`${t.url}/events/kim?token=${token}`);
      cleanup.push(async () => s.close());
      await waitFor(() => s.of('connected').length === 1);
      const key = randomUUID();
      const body = { channel: 'user:kim', type: 'job.done', data: { job: 1 } };
      const first = await post(t, '/publish', body, key);
      const second = await post(t, '/publish', body, key);
      expect(first.status).toBe(202);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      expect(second.status).toBe(202);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body).toEqual(first.body);
      expect(await t.server.hub.store.readAfter('user:kim', 0, 10)).toHaveLength(1);
      // A later, different event proves the stream had its chance to get a duplicate.
      expect((await post(t, '/publish', { channel: 'user:kim', data: 'after' })).status).toBe(202);
      await waitFor(() => s.of('message').length === 1);
      expect(s.of('job.done')).toHaveLength(1);
    });

    it('holds for /notify and /broadcast too, and keys of different principals never meet', async () => {
      const { t } = await server();
      const key = randomUUID();
      const n1 = await post(t, '/notify/lee', { title: 'a', message: 'b' }, key);
      const n2 = await post(t, '/notify/lee', { title: 'a', message: 'b' }, key);
      expect(n2.body).toEqual(n1.body);
      expect(await notifications(t, 'user:lee')).toBe(1);
      const b1 = await post(
        t,
        '/broadcast',
        { users: ['m1', 'm2'], title: 'a', message: 'b' },
        'bk-1',
      );
      const b2 = await post(
        t,
        '/broadcast',
        { users: ['m1', 'm2'], title: 'a', message: 'b' },
        'bk-1',
      );
      expect(b2.headers['idempotent-replayed']).toBe('true');
      expect(b2.body).toEqual(b1.body);
      expect(await notifications(t, 'user:m2')).toBe(1);
      // The same key from a token principal is another key altogether.
      const token = await t.token('pub', { publish: ['user:*'] });
      const other = await httpRequest(`${t.url}/notify/lee`, {
        headers: { authorization: `Bearer ${token}`, 'idempotency-key': key },
        body: { title: 'a', message: 'b' },
      });
      expect(other.status).toBe(202);
      expect(other.headers['idempotent-replayed']).toBeUndefined();
      expect(await notifications(t, 'user:lee')).toBe(2);
    });

    it('a retry after a holder that stored its events but died before its answer: the same answer, stored once', async () => {
      const { t } = await server({ idempotencyLeaseMs: 300, idempotencyWaitMs: 5000 });
      const token = await t.token('ray');
      const s = await RawSse.open(`${t.url}/events/ray?token=${token}`);
      cleanup.push(async () => s.close());
      await waitFor(() => s.of('connected').length === 1);
      // The holder's answer is never recorded, as when its node is killed right after the
      // commit: its claim stays pending until the lease lapses.
      const records = t.server.ctx.limits.idempotency.store;
      const complete = records.complete.bind(records);
      let dropped = 0;
      records.complete = async (...args) => {
        if (dropped++ === 0) return;
        return complete(...args);
      };
      const key = randomUUID();
      const body = { channels: ['user:ray', 'resume:x'], type: 'job.done', data: { job: 7 } };
      const first = await post(t, '/publish', body, key);
      expect(first.status).toBe(202);
      // The retry waits for the lapsed lease, takes the claim over and resumes its plan.
      const retry = await post(t, '/publish', body, key);
      expect(retry.status).toBe(202);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(retry.body).toEqual(first.body);
      expect(await t.server.hub.store.readAfter('user:ray', 0, 10)).toHaveLength(1);
      expect(await t.server.hub.store.readAfter('resume:x', 0, 10)).toHaveLength(1);
      // Now recorded: the next retry replays it.
      const replay = await post(t, '/publish', body, key);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toEqual(first.body);
      // Delivered once: a later event shows the stream had its chance to get the copy.
      expect((await post(t, '/publish', { channel: 'user:ray', data: 'after' })).status).toBe(202);
      await waitFor(() => s.of('message').length === 1);
      expect(s.of('job.done')).toHaveLength(1);
    });

    it('concurrent duplicates store once: they wait for the first and replay its answer', async () => {
      const { t, gated } = await server();
      const key = randomUUID();
      const body = { channel: 'race', data: 'once' };
      gated.close_gate();
      const answers = Array.from({ length: 8 }, () => post(t, '/publish', body, key));
      await waitFor(() => gated.appendsWaiting === 1, 5000, 'the first publish to reach the store');
      gated.open_gate();
      const all = await Promise.all(answers);
      expect(all.map((a) => a.status)).toEqual(Array(8).fill(202));
      expect(all.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(7);
      for (const a of all) expect(a.body).toEqual(all[0]!.body);
      expect(await t.server.hub.store.readAfter('race', 0, 10)).toHaveLength(1);
    });

    it('a duplicate that waits longer than idempotencyWaitMs gets 409 with Retry-After', async () => {
      const { t, gated } = await server({ idempotencyWaitMs: 100 });
      const key = randomUUID();
      gated.close_gate();
      const first = post(t, '/publish', { channel: 'slow', data: 1 }, key);
      await waitFor(() => gated.appendsWaiting === 1);
      const dup = await post(t, '/publish', { channel: 'slow', data: 1 }, key);
      expect(dup.status).toBe(409);
      expect(dup.body.error.code).toBe('HERALD_ERR_IDEMPOTENCY_IN_PROGRESS');
      expect(dup.headers['retry-after']).toBe('1');
      gated.open_gate();
      expect((await first).status).toBe(202);
      const later = await post(t, '/publish', { channel: 'slow', data: 1 }, key);
      expect(later.headers['idempotent-replayed']).toBe('true');
      expect(await t.server.hub.store.readAfter('slow', 0, 10)).toHaveLength(1);
    });

    it('the same key with a different request is refused (422); bad keys are refused (400)', async () => {
      const { t } = await server();
      const key = randomUUID();
      expect((await post(t, '/publish', { channel: 'k', data: 1 }, key)).status).toBe(202);
      const reused = await post(t, '/publish', { channel: 'k', data: 2 }, key);
      expect(reused.status).toBe(422);
      expect(reused.body.error.code).toBe('HERALD_ERR_IDEMPOTENCY_KEY_REUSED');
      const otherRoute = await post(t, '/notify/k', { title: 'a', message: 'b' }, key);
      expect(otherRoute.status).toBe(422);
      for (const bad of ['x'.repeat(201), 'has space', 'tab\there', 'caf\u00e9']) {
        const res = await httpRequest(`${t.url}/publish`, {
          headers: { 'x-herald-key': API_KEY, 'idempotency-key': bad },
          body: { channel: 'k', data: 3 },
        });
        expect(res.status, JSON.stringify(bad)).toBe(400);
        expect(res.body.error.code).toBe('HERALD_ERR_INVALID_IDEMPOTENCY_KEY');
      }
      expect((await post(t, '/publish', { channel: 'k', data: 4 }, 'x'.repeat(200))).status).toBe(
        202,
      );
      expect(await t.server.hub.store.readAfter('k', 0, 10)).toHaveLength(2);
    });

    it('forgets a key after idempotencyTtlSec', async () => {
      const { t } = await server({ idempotencyTtlSec: 1 });
      const key = randomUUID();
      const body = { channel: 'ttl', data: 1 };
      expect((await post(t, '/publish', body, key)).status).toBe(202);
      expect((await post(t, '/publish', body, key)).headers['idempotent-replayed']).toBe('true');
      await waitFor(
        async () =>
          (await post(t, '/publish', body, key)).headers['idempotent-replayed'] !== 'true',
        5000,
        'the key to expire',
      );
      expect(await t.server.hub.store.readAfter('ttl', 0, 10)).toHaveLength(2);
    });

    it('keeps records in the database: another server on the same store replays them', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'herald-idem-'));
      const first = backend.make();
      const a = await startServer({ ...first.config, dataDir });
      const key = randomUUID();
      const body = { channel: 'restart', data: 1 };
      const answer = await post(a, '/publish', body, key);
      await a.close();
      // A second node (or the same one restarted) over the same database.
      const b = await startServer({ ...first.config, dataDir });
      cleanup.push(async () => {
        await b.close();
        await first.done();
        rmSync(dataDir, { recursive: true, force: true });
      });
      const replay = await post(b, '/publish', body, key);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toEqual(answer.body);
      expect(await b.server.hub.store.readAfter('restart', 0, 10)).toHaveLength(1);
    });
  });
}

/** The IdempotencyStore contract (src/idempotency/idempotency.ts), on every backend. */
const recordBackends: {
  name: string;
  /** Two stores over one backend (two nodes), and a cleanup. */
  make(): Promise<{ a: IdempotencyStore; b: IdempotencyStore; done: () => Promise<void> }>;
}[] = [
  {
    name: 'memory',
    make: async () => {
      const m = new MemoryIdempotencyStore();
      return { a: m, b: m, done: async () => {} };
    },
  },
  {
    name: 'SQLite',
    make: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'herald-idem-'));
      const s1 = new SqliteStore({ path: join(dir, 'h.db') });
      const s2 = new SqliteStore({ path: join(dir, 'h.db') });
      await s1.init();
      await s2.init();
      const a = new SqliteIdempotencyStore(s1.database);
      const b = new SqliteIdempotencyStore(s2.database);
      await a.init();
      await b.init();
      return {
        a,
        b,
        done: async () => {
          await s1.close();
          await s2.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    make: async () => {
      const schema = uniqueSchema('herald_idem');
      const pools = [
        new pg.Pool({ connectionString: pgUrl, max: 10 }),
        new pg.Pool({ connectionString: pgUrl, max: 10 }),
      ];
      await pools[0]!.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
      const [a, b] = pools.map((p) => new PostgresIdempotencyStore(p, schema));
      await Promise.all([a!.init(), b!.init()]);
      return {
        a: a!,
        b: b!,
        done: async () => {
          await pools[0]!.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
          await Promise.all(pools.map((p) => p.end()));
        },
      };
    },
  },
];

for (const backend of recordBackends) {
  describe(`IdempotencyStore contract: ${backend.name}`, () => {
    const claim = (
      s: IdempotencyStore,
      key: string,
      now: number,
      owner: string = randomUUID(),
      more: { fingerprint?: string; plan?: string } = {},
    ) =>
      s.claim({
        scope: 'sc',
        key,
        fingerprint: more.fingerprint ?? 'fp',
        owner,
        now,
        leaseUntil: now + 1000,
        plan: more.plan ?? `${now}:${owner}`,
      });

    it('of many concurrent claims from two nodes, exactly one wins', async () => {
      const { a, b, done } = await backend.make();
      try {
        const key = randomUUID();
        const now = Date.now();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => claim(i % 2 ? a : b, key, now)),
        );
        expect(results.filter((r) => r.claimed)).toHaveLength(1);
        for (const r of results) if (!r.claimed) expect(r.record.state).toBe('pending');
      } finally {
        await done();
      }
    });

    it('only the owner completes or releases; expired records are claimed again; sweep deletes them', async () => {
      const { a, b, done } = await backend.make();
      try {
        const now = Date.now();
        const owner = randomUUID();
        expect((await claim(a, 'k1', now, owner)).claimed).toBe(true);
        await b.complete(
          { scope: 'sc', key: 'k1', owner: 'someone-else' },
          { status: 202, body: '{}' },
          now + 5000,
        );
        await b.release({ scope: 'sc', key: 'k1', owner: 'someone-else' });
        const still = await claim(b, 'k1', now);
        expect(still.claimed === false && still.record.state).toBe('pending');
        await a.complete(
          { scope: 'sc', key: 'k1', owner },
          { status: 202, body: '{"ok":1}' },
          now + 5000,
        );
        const done1 = await claim(b, 'k1', now + 10);
        expect(done1).toEqual({
          claimed: false,
          record: { state: 'done', fingerprint: 'fp', status: 202, body: '{"ok":1}' },
        });
        // Past its expiry the record counts as absent.
        expect((await claim(b, 'k1', now + 5000)).claimed).toBe(true);
        // A released claim can be claimed at once.
        const o2 = randomUUID();
        expect((await claim(a, 'k2', now, o2)).claimed).toBe(true);
        await a.release({ scope: 'sc', key: 'k2', owner: o2 });
        expect((await claim(b, 'k2', now)).claimed).toBe(true);
        expect(await a.sweep(now + 10_000)).toBeGreaterThanOrEqual(2);
        expect((await claim(a, 'k2', now + 10_000)).claimed).toBe(true);
      } finally {
        await done();
      }
    });

    it('a takeover of a lapsed claim of the same request keeps its plan; anything else gets its own', async () => {
      const { a, b, done } = await backend.make();
      try {
        const now = Date.now();
        expect(await claim(a, 'plan', now, 'o1', { plan: 'P1' })).toEqual({
          claimed: true,
          plan: 'P1',
        });
        // The holder died: past its lease, the same request resumes P1, from any node.
        expect(await claim(b, 'plan', now + 1000, 'o2', { plan: 'P2' })).toEqual({
          claimed: true,
          plan: 'P1',
        });
        // ... and again when that one died too.
        expect(await claim(a, 'plan', now + 2000, 'o3', { plan: 'P3' })).toEqual({
          claimed: true,
          plan: 'P1',
        });
        // Another request under the lapsed key starts afresh.
        expect(
          await claim(b, 'plan', now + 3000, 'o4', { plan: 'P4', fingerprint: 'other' }),
        ).toEqual({ claimed: true, plan: 'P4' });
        // So does the same request after a done record expired, or after a release.
        await b.complete(
          { scope: 'sc', key: 'plan', owner: 'o4' },
          { status: 202, body: '{}' },
          now + 3500,
        );
        expect(
          await claim(a, 'plan', now + 3500, 'o5', { plan: 'P5', fingerprint: 'other' }),
        ).toEqual({ claimed: true, plan: 'P5' });
        await a.release({ scope: 'sc', key: 'plan', owner: 'o5' });
        expect(
          await claim(a, 'plan', now + 3500, 'o6', { plan: 'P6', fingerprint: 'other' }),
        ).toEqual({ claimed: true, plan: 'P6' });
      } finally {
        await done();
      }
    });

    it('only the owner extends a pending lease; an extended claim holds, a lapsed one is taken over', async () => {
      const { a, b, done } = await backend.make();
      try {
        const now = Date.now();
        const owner = randomUUID();
        expect((await claim(a, 'lease', now, owner)).claimed).toBe(true);
        // Someone else's extension does nothing: past the first lease the claim is free.
        await b.extend({ scope: 'sc', key: 'lease', owner: 'someone-else' }, now + 60_000);
        expect((await claim(b, 'lease', now + 1000)).claimed).toBe(true);

        const holder = randomUUID();
        expect((await claim(a, 'held', now, holder)).claimed).toBe(true);
        await a.extend({ scope: 'sc', key: 'held', owner: holder }, now + 3000);
        const held = await claim(b, 'held', now + 2000);
        expect(held.claimed === false && held.record.state).toBe('pending');
        expect((await claim(b, 'held', now + 3000)).claimed).toBe(true);

        // A done record is not a lease: extending it does not keep it past its TTL.
        const finisher = randomUUID();
        expect((await claim(a, 'done', now, finisher)).claimed).toBe(true);
        await a.complete(
          { scope: 'sc', key: 'done', owner: finisher },
          { status: 202, body: '{}' },
          now + 500,
        );
        await a.extend({ scope: 'sc', key: 'done', owner: finisher }, now + 60_000);
        expect((await claim(b, 'done', now + 500)).claimed).toBe(true);
      } finally {
        await done();
      }
    });
  });
}

describe('a table made before claims kept plans', () => {
  const OLD_TABLE = `(
    scope text NOT NULL, idem_key text NOT NULL, fingerprint text NOT NULL, owner text NOT NULL,
    state text NOT NULL, status integer, body text, expires_at bigint NOT NULL,
    PRIMARY KEY (scope, idem_key))`;
  const OLD_ROW = `(scope, idem_key, fingerprint, owner, state, expires_at)
    VALUES ('sc', 'old', 'fp', 'dead', 'pending', 1)`;
  const request = {
    scope: 'sc',
    key: 'old',
    fingerprint: 'fp',
    owner: 'o1',
    now: 2,
    leaseUntil: 1000,
    plan: 'P1',
  };

  it('gets the column on SQLite; a lapsed old claim is taken over with the new plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-idem-'));
    const store = new SqliteStore({ path: join(dir, 'h.db') });
    try {
      await store.init();
      store.database.exec(`CREATE TABLE idempotency_keys ${OLD_TABLE} WITHOUT ROWID`);
      store.database.exec(`INSERT INTO idempotency_keys ${OLD_ROW}`);
      const records = new SqliteIdempotencyStore(store.database);
      await records.init();
      await records.init();
      expect(await records.claim(request)).toEqual({ claimed: true, plan: 'P1' });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gets the column on PostgreSQL; a lapsed old claim is taken over with the new plan', async () => {
    const schema = uniqueSchema('herald_idem');
    const pool = new pg.Pool({ connectionString: pgUrl, max: 2 });
    const table = `${pg.escapeIdentifier(schema)}.idempotency_keys`;
    try {
      await pool.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
      await pool.query(`CREATE TABLE ${table} ${OLD_TABLE}`);
      await pool.query(`INSERT INTO ${table} ${OLD_ROW}`);
      const records = new PostgresIdempotencyStore(pool, schema);
      await records.init();
      await records.init();
      expect(await records.claim(request)).toEqual({ claimed: true, plan: 'P1' });
    } finally {
      await pool.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`);
      await pool.end();
    }
  });
});

describe('the lease of a pending claim', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is extended while the publish runs, so a slow publish is never taken over, and no timer outlives it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const store = new MemoryIdempotencyStore();
    const idem = new Idempotency(store, { ttlMs: 60_000, waitMs: 0, leaseMs: LEASE_MS }, silentLog);
    const req = {
      headers: { 'idempotency-key': 'slow-1' },
      method: 'POST',
      url: '/publish',
      body: { channel: 'x', data: 1 },
      log: silentLog,
    } as unknown as FastifyRequest;
    const reply = {
      code: () => reply,
      header: () => reply,
      type: () => reply,
      send: (body: unknown) => body,
    } as unknown as FastifyReply;
    const principal = apiKeyPrincipal('k1', 'all', true);
    let finish!: (v: unknown) => void;
    const answered = idem.run(req, reply, principal, () => new Promise((r) => (finish = r)));
    await vi.advanceTimersByTimeAsync(0);
    // Three leases later the claim is still the first request's.
    await vi.advanceTimersByTimeAsync(3 * LEASE_MS);
    const retry = await store.claim({
      scope: 'key:k1',
      key: 'slow-1',
      fingerprint: 'other',
      owner: randomUUID(),
      now: Date.now(),
      leaseUntil: Date.now() + LEASE_MS,
      plan: 'p',
    });
    expect(retry.claimed === false && retry.record.state).toBe('pending');
    finish({ ids: ['e1'] });
    await answered;
    expect(vi.getTimerCount()).toBe(0);
  });
});

const silentLog = {
  warn: () => {},
  error: () => {},
  info: () => {},
  debug: () => {},
} as unknown as FastifyRequest['log'];
