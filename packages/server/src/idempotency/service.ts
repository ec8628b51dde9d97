import { createHash, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { HeraldError } from '../errors.js';
import { type PublishPlan, formatPlan, parsePlan } from '../hub/publish-plan.js';
import type { Logger } from '../logger.js';
import type { IdempotencySettings, IdempotencyStore } from './idempotency.js';

/** Visible ASCII, 1-200 characters (a UUID or ULID fits many times over). */
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

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
   * the header it just runs `publish`, with no plan. Under a key `publish` gets the claim's
   * plan: its own, or, when it took over the claim of a holder that died, that holder's, which
   * the publish must follow so that the events the holder stored are not stored again.
   */
  async run(
    req: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    publish: (plan: PublishPlan | undefined) => Promise<unknown>,
  ): Promise<FastifyReply> {
    const key = idempotencyKeyOf(req);
    if (key === undefined) return reply.code(202).send(await publish(undefined));
    const scope = scopeOf(principal);
    const path = req.url.split('?')[0] ?? '';
    const fingerprint = sha256(`${req.method} ${path}\n${JSON.stringify(req.body)}`);
    const owner = randomUUID();
    const claim = { scope, key, owner };
    let plan: PublishPlan;
    const deadline = Date.now() + this.settings.waitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const now = Date.now();
      // This attempt's own plan: its events are published now, should it win a fresh claim.
      const ownPlan = formatPlan({ ts: now, seed: owner });
      const result = await this.store
        .claim({
          scope,
          key,
          fingerprint,
          owner,
          now,
          leaseUntil: now + this.settings.leaseMs,
          plan: ownPlan,
        })
        .catch((err: unknown) => {
          req.log.error({ err }, 'idempotency claim failed');
          throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
        });
      if (result.claimed) {
        // A plan that does not parse (a record from another version) is no plan to follow.
        plan = parsePlan(result.plan, result.plan !== ownPlan) ?? {
          ts: now,
          seed: owner,
          resumed: false,
        };
        // Its holder died holding it (or its store did not answer its renewals for a lease).
        if (plan.resumed) req.log.warn({ key }, 'idempotency claim taken over: resuming its plan');
        break;
      }
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
        .extend(claim, Date.now() + this.settings.leaseMs)
        .catch((err: unknown) => req.log.warn({ err }, 'idempotency lease not extended'));
    }, this.settings.leaseMs / 3);
    try {
      body = await publish(plan);
    } catch (err) {
      await this.store
        .release(claim)
        .catch((e: unknown) => req.log.error({ err: e }, 'idempotency release failed'));
      throw err;
    } finally {
      clearInterval(renew);
    }
    const text = JSON.stringify(body);
    try {
      await this.store.complete(
        claim,
        { status: 202, body: text },
        Date.now() + this.settings.ttlMs,
      );
    } catch (err) {
      // The events are published: answer 202 anyway. A retry within the lease waits or gets
      // 409; after it, the retry takes the claim over and resumes its plan (stores nothing twice).
      req.log.error({ err }, 'idempotency record could not be completed');
    }
    return reply.code(202).type('application/json; charset=utf-8').send(text);
  }
}
