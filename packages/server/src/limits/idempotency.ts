import { createHash, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { HeraldError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Idempotency keys on publish (`Idempotency-Key` header): a publisher that retries after a
 * timeout or a dropped connection gets the first answer again instead of a second event.
 *
 * How it holds under concurrency and across nodes: the first request for a key claims it by
 * inserting a `pending` record under the database's unique constraint on (scope, key), and
 * only the request whose insert won goes on to publish; it then stores its 202 answer in
 * the record (`done`). Any other request with the same key and scope waits for the record
 * to be done (up to `waitMs`) and replays it, or gets 409 `HERALD_ERR_IDEMPOTENCY_IN_PROGRESS`.
 * A failed publish deletes its claim, so the client's retry can try again.
 *
 * A pending claim has a short lease (`PENDING_LEASE_MS`) that its holder extends while the
 * publish runs (every `LEASE_RENEW_MS`), so a claim whose holder died (process crash, a node
 * killed) is taken over a few seconds later, not after a long fixed lease. The event may then
 * have been stored twice, which is the one case a key does not cover. Done records are kept
 * for `ttlMs`.
 */

/** Visible ASCII, 1-200 characters (a UUID or ULID fits many times over). */
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

/** How long a claim stays pending without being extended before another request may take it
 * over: how long the retries of a request whose node died get 409. */
export const PENDING_LEASE_MS = 10_000;
/** How often the holder extends its lease while its publish runs. */
export const LEASE_RENEW_MS = 3_000;

export type IdempotencyRecord =
  | { readonly state: 'pending'; readonly fingerprint: string }
  | {
      readonly state: 'done';
      readonly fingerprint: string;
      readonly status: number;
      readonly body: string;
    };

export interface ClaimRequest {
  /** Whose key it is: keys of different principals never meet. */
  readonly scope: string;
  readonly key: string;
  /** Hash of the request (method, path, body): the same key with another request is an error. */
  readonly fingerprint: string;
  /** Random id of the claiming request; only it may complete or release the claim. */
  readonly owner: string;
  readonly now: number;
  /** The claim may be taken over after this time (ms since the epoch). */
  readonly leaseUntil: number;
}

/**
 * Where idempotency records live: in the event store's own database, so they survive a
 * restart and every node of a cluster sees the same records.
 *
 * Contract (every backend runs `test/idempotency.test.ts`):
 * - `claim` is atomic: of any number of concurrent claims of one (scope, key), from any
 *   node, exactly one returns `claimed: true`, and the others return the record. A record
 *   whose expiry has passed (a done record past its TTL, a pending one past its lease)
 *   counts as absent and is replaced by the claim.
 * - `complete`, `release` and `extend` act only while `owner` still holds the claim (and
 *   `extend` only while it is pending).
 * - `sweep` deletes expired records; returns how many.
 */
export interface IdempotencyStore {
  init(): Promise<void>;
  claim(
    c: ClaimRequest,
  ): Promise<{ claimed: true } | { claimed: false; record: IdempotencyRecord }>;
  complete(
    scope: string,
    key: string,
    owner: string,
    response: { status: number; body: string },
    expiresAt: number,
  ): Promise<void>;
  release(scope: string, key: string, owner: string): Promise<void>;
  /** Moves a pending claim's lease to `leaseUntil`, while `owner` still holds it. */
  extend(scope: string, key: string, owner: string, leaseUntil: number): Promise<void>;
  sweep(now: number): Promise<number>;
}

export interface IdempotencySettings {
  /** How long a done record is replayed, ms. */
  readonly ttlMs: number;
  /** How long a duplicate waits for a pending first request before 409, ms. */
  readonly waitMs: number;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The principal's idempotency scope: its API key, its user, or (no `sub`) its grants. */
function scopeOf(p: Principal): string {
  if (p.kind === 'api-key' && p.keyId !== undefined) return `key:${p.keyId}`;
  if (p.userId !== undefined) return `user:${p.userId}`;
  return `grants:${sha256(JSON.stringify([...p.publish].sort())).slice(0, 32)}`;
}

/** The request's idempotency key, validated; undefined when the header is absent. */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  // A repeated header arrives joined with ", " and fails the pattern: refused, never guessed.
  if (typeof raw !== 'string' || !KEY_PATTERN.test(raw)) {
    throw new HeraldError(
      'HERALD_ERR_INVALID_IDEMPOTENCY_KEY',
      'Idempotency-Key: 1-200 visible ASCII characters',
    );
  }
  return raw;
}

export class Idempotency {
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly store: IdempotencyStore,
    private readonly settings: IdempotencySettings,
    private readonly log: Logger,
  ) {}

  /** Deletes expired records every minute (one timer per node). */
  start(): void {
    this.sweeper ??= setInterval(() => {
      this.store
        .sweep(Date.now())
        .catch((err: unknown) => this.log.warn({ err }, 'idempotency sweep failed'));
    }, 60_000);
    this.sweeper.unref();
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * Answers a publish request: runs `publish` at most once per (principal, key) and sends its
   * result with 202, or replays the stored answer with `Idempotent-Replayed: true`. Without
   * the header it just runs `publish`.
   */
  async run(
    req: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    publish: () => Promise<unknown>,
  ): Promise<FastifyReply> {
    const key = idempotencyKeyOf(req);
    if (key === undefined) return reply.code(202).send(await publish());
    const scope = scopeOf(principal);
    const path = req.url.split('?')[0] ?? '';
    const fingerprint = sha256(`${req.method} ${path}\n${JSON.stringify(req.body)}`);
    const owner = randomUUID();
    const deadline = Date.now() + this.settings.waitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const now = Date.now();
      const result = await this.store
        .claim({ scope, key, fingerprint, owner, now, leaseUntil: now + PENDING_LEASE_MS })
        .catch((err: unknown) => {
          req.log.error({ err }, 'idempotency claim failed');
          throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
        });
      if (result.claimed) break;
      const record = result.record;
      if (record.fingerprint !== fingerprint) {
        throw new HeraldError('HERALD_ERR_IDEMPOTENCY_KEY_REUSED');
      }
      if (record.state === 'done') {
        return reply
          .code(record.status)
          .header('Idempotent-Replayed', 'true')
          .type('application/json; charset=utf-8')
          .send(record.body);
      }
      if (Date.now() + delay > deadline) {
        throw new HeraldError('HERALD_ERR_IDEMPOTENCY_IN_PROGRESS', undefined, {
          'Retry-After': '1',
        });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    let body: unknown;
    // The lease is extended while the publish runs (a store outage can make it slow); a
    // failed extension is only logged: the claim then lapses as if this node had died.
    const renew = setInterval(() => {
      this.store
        .extend(scope, key, owner, Date.now() + PENDING_LEASE_MS)
        .catch((err: unknown) => req.log.warn({ err }, 'idempotency lease not extended'));
    }, LEASE_RENEW_MS);
    try {
      body = await publish();
    } catch (err) {
      await this.store
        .release(scope, key, owner)
        .catch((e: unknown) => req.log.error({ err: e }, 'idempotency release failed'));
      throw err;
    } finally {
      clearInterval(renew);
    }
    const text = JSON.stringify(body);
    try {
      await this.store.complete(
        scope,
        key,
        owner,
        { status: 202, body: text },
        Date.now() + this.settings.ttlMs,
      );
    } catch (err) {
      // The events are published: answer 202 anyway. A retry within the lease gets 409, after
      // it the key is claimed again (the one window in which a duplicate is possible).
      req.log.error({ err }, 'idempotency record could not be completed');
    }
    return reply.code(202).type('application/json; charset=utf-8').send(text);
  }
}

/** Records in process memory: for stores without a database of their own (tests, custom). */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<
    string,
    { record: IdempotencyRecord; owner: string; expiresAt: number }
  >();

  async init(): Promise<void> {}

  async claim(c: ClaimRequest) {
    const id = `${c.scope}\n${c.key}`;
    const found = this.records.get(id);
    if (found && found.expiresAt > c.now) return { claimed: false as const, record: found.record };
    this.records.set(id, {
      record: { state: 'pending', fingerprint: c.fingerprint },
      owner: c.owner,
      expiresAt: c.leaseUntil,
    });
    return { claimed: true as const };
  }

  async complete(
    scope: string,
    key: string,
    owner: string,
    response: { status: number; body: string },
    expiresAt: number,
  ): Promise<void> {
    const found = this.records.get(`${scope}\n${key}`);
    if (!found || found.owner !== owner) return;
    found.record = { state: 'done', fingerprint: found.record.fingerprint, ...response };
    found.expiresAt = expiresAt;
  }

  async release(scope: string, key: string, owner: string): Promise<void> {
    const id = `${scope}\n${key}`;
    if (this.records.get(id)?.owner === owner) this.records.delete(id);
  }

  async extend(scope: string, key: string, owner: string, leaseUntil: number): Promise<void> {
    const found = this.records.get(`${scope}\n${key}`);
    if (found?.owner === owner && found.record.state === 'pending') found.expiresAt = leaseUntil;
  }

  async sweep(now: number): Promise<number> {
    let n = 0;
    for (const [id, r] of this.records) {
      if (r.expiresAt <= now) {
        this.records.delete(id);
        n++;
      }
    }
    return n;
  }
}

/** A stored idempotency row as both SQL backends read it. */
export interface RecordRow {
  fingerprint: string;
  state: string;
  status: number | null;
  body: string | null;
}

/** The record a row stands for. */
export function toRecord(row: RecordRow): IdempotencyRecord {
  return row.state === 'done'
    ? {
        state: 'done',
        fingerprint: row.fingerprint,
        status: row.status ?? 202,
        body: row.body ?? '',
      }
    : { state: 'pending', fingerprint: row.fingerprint };
}
