import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/store.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';
import { RawSse } from './sse-client.js';
import { scrape } from './prom-text.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { outageProxy } from './outage-proxy.js';

const redisUrl = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const databaseUrl = PG_URL;

/**
 * The real SQLite store behind a handle the test can swap: closing the database makes every
 * call fail for real ("the database connection is not open"), and putting a freshly opened
 * store on the same file behind the handle is the store coming back.
 */
class SwappableStore implements Store {
  constructor(public inner: Store) {}
  init() {
    return this.inner.init();
  }
  ensureChannels(channels: readonly string[]) {
    return this.inner.ensureChannels(channels);
  }
  append(events: Parameters<Store['append']>[0]) {
    return this.inner.append(events);
  }
  readAfter(channel: string, after: number, limit: number) {
    return this.inner.readAfter(channel, after, limit);
  }
  trim(policy: Parameters<Store['trim']>[0], now: number) {
    return this.inner.trim(policy, now);
  }
  ping() {
    return this.inner.ping();
  }
  close() {
    return this.inner.close();
  }
}

function logCapture() {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return {
    logger: createLogger('info', sink),
    lines: () => text.split('\n').filter((l) => l !== ''),
    count: (msg: string) => text.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length,
  };
}

async function readyz(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe('/healthz and /readyz', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('turn 503 when the SQLite store fails, and back to 200 when it returns; logged once each', async () => {
    const logs = logCapture();
    const dir = mkdtempSync(join(tmpdir(), 'herald-test-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'swapped.db');
    const first = new SqliteStore({ path });
    const store = new SwappableStore(first);
    const t: TestServer = await startServer({ logLevel: 'info' }, { store, logger: logs.logger });
    cleanup.push(() => t.close());
    const token = await t.token('alice');
    const stream = await RawSse.open(`${t.url}/events/alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => stream.of('connected').length === 1);

    expect(await readyz(t.url)).toEqual({
      status: 200,
      body: { ready: true, store: 'ok', broker: 'ok', draining: false },
    });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);

    await first.close(); // the database goes away under the running server
    expect(await readyz(t.url)).toEqual({
      status: 503,
      body: { ready: false, store: 'unreachable', broker: 'ok', draining: false },
    });
    // Still alive: only readiness fails.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const note = { channel: 'user:alice', type: 'notification', data: { title: 'a' } };
    const refused = await t.post('/publish', note);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('HERALD_ERR_STORE_UNAVAILABLE');
    await readyz(t.url);
    let m = await scrape(t.url);
    expect(m.value('herald_backend_up', { backend: 'store' })).toBe(0);
    expect(m.value('herald_store_errors_total', { op: 'ping' })).toBeGreaterThanOrEqual(2);
    expect(m.value('herald_store_errors_total', { op: 'append' })).toBe(1);

    const reopened = new SqliteStore({ path });
    await reopened.init();
    store.inner = reopened;
    cleanup.push(() => reopened.close());
    await waitFor(async () => (await readyz(t.url)).status === 200, 10_000, 'ready again');
    m = await scrape(t.url);
    expect(m.value('herald_backend_up', { backend: 'store' })).toBe(1);

    // The open stream carries on.
    expect((await t.post('/publish', note)).status).toBe(202);
    await waitFor(() => stream.of('notification').length === 1);
    stream.close();

    // One line when the outage started and one when it ended, whatever the request count;
    // the failed requests themselves stay below info.
    expect(logs.count('store unavailable')).toBe(1);
    expect(logs.count('store recovered')).toBe(1);
    expect(logs.count('request failed')).toBe(0);
    expect(logs.count('publish failed')).toBe(0);
    const down = JSON.parse(logs.lines().find((l) => l.includes('"store unavailable"'))!);
    expect(down).toMatchObject({ level: 50, backend: 'store' });
    const up = JSON.parse(logs.lines().find((l) => l.includes('"store recovered"'))!);
    expect(up).toMatchObject({ level: 30, backend: 'store' });
    expect(up.downMs).toBeGreaterThanOrEqual(0);
  });

  it('turn 503 when Redis is unreachable, and back to 200 once the broker reconnects', async () => {
    const proxy = await outageProxy(redisUrl);
    cleanup.push(() => proxy.close());
    const logs = logCapture();
    const t = await startServer(
      {
        logLevel: 'info',
        redisUrl: proxy.url,
        redisPrefix: `herald-test-${randomBytes(4).toString('hex')}:`,
      },
      { logger: logs.logger },
    );
    cleanup.push(() => t.close());
    expect((await readyz(t.url)).status).toBe(200);
    const token = await t.token('alice');
    const stream = await RawSse.open(`${t.url}/events/alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => stream.of('connected').length === 1);

    proxy.cut();
    await waitFor(
      async () => (await readyz(t.url)).body.broker === 'unreachable',
      10_000,
      'broker unreachable',
    );
    expect(await readyz(t.url)).toMatchObject({ status: 503, body: { store: 'ok' } });
    expect((await scrape(t.url)).value('herald_backend_up', { backend: 'broker' })).toBe(0);
    // A durable event is stored and acknowledged while the broker is away ...
    const during = { channel: 'user:alice', type: 'notification', data: { n: 1 } };
    expect((await t.post('/publish', during)).status).toBe(202);
    // A new stream cannot subscribe: 503 with the broker's code, not the store's; and its
    // undone subscription (a local no-op while down) does not pass for a recovery.
    const refused = await fetch(`${t.url}/events/bob`, {
      headers: { authorization: `Bearer ${await t.token('bob')}` },
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as any).error.code).toBe('HERALD_ERR_BROKER_UNAVAILABLE');
    expect((await readyz(t.url)).body.broker).toBe('unreachable');

    proxy.restore();
    await waitFor(async () => (await readyz(t.url)).status === 200, 15_000, 'ready again');
    // ... and reaches the open stream once the broker is back (backfilled from the store).
    await waitFor(() => stream.of('notification').length === 1, 15_000, 'backfilled event');
    stream.close();
    const m = await scrape(t.url);
    expect(m.value('herald_broker_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(m.value('herald_backfills_total')).toBeGreaterThanOrEqual(1);
    await waitFor(() => logs.count('broker recovered') === 1, 5000, 'recovery log');
    expect(m.value('herald_backend_up', { backend: 'broker' })).toBe(1);
    expect(logs.count('broker unavailable')).toBe(1);
    expect(logs.count('broker recovered')).toBe(1);
  });

  it('turn 503 when PostgreSQL is unreachable, and back to 200 when it returns', async () => {
    const proxy = await outageProxy(databaseUrl);
    cleanup.push(() => proxy.close());
    const schema = uniqueSchema('herald_test');
    cleanup.push(() => dropSchema(schema));
    const logs = logCapture();
    const t = await startServer(
      { logLevel: 'info', databaseUrl: proxy.url, databaseSchema: schema },
      { logger: logs.logger },
    );
    cleanup.push(() => t.close());
    expect((await readyz(t.url)).status).toBe(200);

    proxy.cut();
    await waitFor(
      async () => (await readyz(t.url)).body.store === 'unreachable',
      15_000,
      'store unreachable',
    );
    proxy.restore();
    await waitFor(async () => (await readyz(t.url)).status === 200, 15_000, 'ready again');
    expect((await t.post('/publish', { channel: 'pg-back', data: 1 })).status).toBe(202);
    await waitFor(() => logs.count('store recovered') === 1, 5000, 'recovery log');
    expect(logs.count('store unavailable')).toBe(1);
  });

  it('turn 503 while the node drains', async () => {
    const t = await startServer({ drainWindowMs: 0 });
    const token = await t.token('alice');
    const stream = await RawSse.open(`${t.url}/events/alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => stream.of('connected').length === 1);
    // Readiness is read while the drain runs: mark it, then ask on the open connection.
    t.server.ctx.draining = true;
    expect(await readyz(t.url)).toMatchObject({ status: 503, body: { draining: true } });
    expect((await scrape(t.url)).value('herald_draining')).toBe(1);
    t.server.ctx.draining = false;
    expect((await readyz(t.url)).status).toBe(200);
    stream.close();
    await t.close();
  });
});
