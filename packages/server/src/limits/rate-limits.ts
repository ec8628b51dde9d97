import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { HeraldError } from '../errors.js';
import type { Logger } from '../logger.js';
import { addressSubject } from './client-ip.js';
import { MemoryRateLimiter } from '../rate-limit/memory.js';
import type { RateLimiter, RateRule, RateVerdict } from '../rate-limit/rate-limiter.js';

/** The answer of every check that passes: one settled promise, shared. */
const ALLOWED: Promise<void> = Promise.resolve();

export interface RateLimitSettings {
  readonly windowMs: number;
  /** Each limit is hits per window; 0 turns it off. */
  readonly publishPerKey: number;
  readonly publishPerUser: number;
  readonly publishPerAddress: number;
  readonly connectPerAddress: number;
  readonly connectPerUser: number;
  /** What a check does while the shared limiter (Redis) is unreachable. */
  readonly failMode: 'open' | 'closed';
}

export interface RateLimitsOptions {
  readonly settings: RateLimitSettings;
  /** The shared (cluster-wide) limiter; absent: node-local counting only. */
  readonly shared?: RateLimiter;
  readonly log: Logger;
  /** Counts refusals by limit name. */
  readonly onRefused?: (limit: string) => void;
}

/**
 * The rate-limit policy of the HTTP API: which counters a request hits, and what a refusal
 * looks like (429 `HERALD_ERR_RATE_LIMITED` with `Retry-After` in whole seconds).
 *
 * Address limits are checked before the credential is looked at, so a flood of bad tokens
 * from one address is refused as cheaply as anything; principal limits (API key, token
 * `sub`) are checked once the credential is verified, so nobody can spend another
 * principal's budget by naming it.
 *
 * With a shared limiter (Redis) the counts are cluster-wide. While it is unreachable,
 * `failMode` decides: `open` counts on this node instead (limits then hold per node, not
 * per cluster) and `closed` refuses with 503 `HERALD_ERR_RATE_LIMITER_UNAVAILABLE`. Either
 * way one log line marks the start of the outage and one its end, not one per request.
 * While it is down no check waits on it: each would wait out the command timeout (500 ms),
 * and a stalled Redis (the socket open, nothing answering) slowed every publish by that
 * much. One check at a time still asks Redis, waiting at most DOWN_WAIT_MS, to learn when
 * it is back.
 */
/** While Redis is down, how long the one check that asks it waits before counting locally. */
const DOWN_WAIT_MS = 25;

export class RateLimits {
  private readonly settings: RateLimitSettings;
  private readonly shared: RateLimiter | undefined;
  private readonly local = new MemoryRateLimiter();
  private readonly log: Logger;
  private readonly onRefused: (limit: string) => void;
  private sharedDown = false;
  private probing = false;

  constructor(options: RateLimitsOptions) {
    this.settings = options.settings;
    this.shared = options.shared;
    this.log = options.log;
    this.onRefused = options.onRefused ?? (() => {});
  }

  /** Publishing routes, before authentication: the client address. */
  checkPublishAddress(req: FastifyRequest): Promise<void> {
    return this.check([this.rule('publish-address', this.settings.publishPerAddress, req.ip)]);
  }

  /** Publishing routes, after authentication: the API key, or the token's user. */
  checkPublisher(p: Principal): Promise<void> {
    const rules: (RateRule | undefined)[] = [];
    if (p.kind === 'api-key' && p.keyId !== undefined) {
      rules.push(this.rule('publish-key', this.settings.publishPerKey, p.keyId));
    } else if (p.userId !== undefined) {
      rules.push(this.rule('publish-user', this.settings.publishPerUser, p.userId));
    }
    return this.check(rules);
  }

  /** Stream routes, before authentication: connection attempts per client address. */
  checkConnectAddress(req: FastifyRequest): Promise<void> {
    return this.check([this.rule('connect-address', this.settings.connectPerAddress, req.ip)]);
  }

  /** Stream routes, after authentication: connection attempts per user. */
  checkConnectUser(p: Principal): Promise<void> {
    if (p.userId === undefined) return Promise.resolve();
    return this.check([this.rule('connect-user', this.settings.connectPerUser, p.userId)]);
  }

  /** Resolves once the shared limiter (Redis) is connected; at once without one. */
  async ready(): Promise<void> {
    await this.shared?.ready?.();
  }

  async close(): Promise<void> {
    await Promise.all([this.shared?.close(), this.local.close()]);
  }

  private rule(name: string, limit: number, subject: string): RateRule | undefined {
    if (limit <= 0) return undefined;
    const id = name.endsWith('-address') ? addressSubject(subject) : subject;
    return { name, limit, windowMs: this.settings.windowMs, key: `${name}:${id}` };
  }

  /**
   * Counts one hit on each rule; rejects with the documented 429 when one is over its limit.
   * Without Redis the verdict is known at once, and the check allocates no promise of its
   * own: it runs several times on every publish request.
   */
  private check(maybe: readonly (RateRule | undefined)[]): Promise<void> {
    const rules = maybe.filter((r): r is RateRule => r !== undefined);
    if (rules.length === 0) return ALLOWED;
    if (this.shared) {
      return this.hit(rules).then((verdict) => {
        const refusal = this.refusal(verdict);
        if (refusal) throw refusal;
      });
    }
    const refusal = this.refusal(this.local.hitSync(rules));
    return refusal ? Promise.reject(refusal) : ALLOWED;
  }

  /** The documented 429 for a verdict that refuses (counted); undefined when allowed. */
  private refusal(verdict: RateVerdict): HeraldError | undefined {
    if (verdict.allowed) return undefined;
    this.onRefused(verdict.rule.name);
    const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
    return new HeraldError(
      'HERALD_ERR_RATE_LIMITED',
      `${verdict.rule.name}: ${verdict.rule.limit} per ${verdict.rule.windowMs} ms`,
      { 'Retry-After': String(seconds) },
    );
  }

  private async hit(rules: readonly RateRule[]): Promise<RateVerdict> {
    if (!this.shared) return this.local.hitSync(rules);
    if (this.sharedDown) {
      const verdict = this.probing ? undefined : await this.probe(this.shared, rules);
      return verdict ?? this.whileDown(rules);
    }
    try {
      return await this.shared.hit(rules);
    } catch (err) {
      this.wentDown(err);
      return this.whileDown(rules);
    }
  }

  /**
   * Counts `rules` on Redis while it is down, one check at a time. Its answer ends the
   * outage; the check uses it when it comes within DOWN_WAIT_MS, and counts on this node
   * otherwise (undefined).
   */
  private probe(shared: RateLimiter, rules: readonly RateRule[]): Promise<RateVerdict | undefined> {
    this.probing = true;
    const answer = shared
      .hit(rules)
      .then(
        (verdict) => {
          if (this.sharedDown) {
            this.sharedDown = false;
            this.log.info('rate limiter: Redis is back; rate limits hold cluster-wide again');
          }
          return verdict;
        },
        () => undefined,
      )
      .finally(() => (this.probing = false));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), DOWN_WAIT_MS);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  }

  /** The verdict while Redis is unreachable, as `failMode` says. */
  private whileDown(rules: readonly RateRule[]) {
    if (this.settings.failMode === 'closed') {
      throw new HeraldError('HERALD_ERR_RATE_LIMITER_UNAVAILABLE', undefined, {
        'Retry-After': '1',
      });
    }
    return this.local.hitSync(rules);
  }

  private wentDown(err: unknown): void {
    if (this.sharedDown) return;
    this.sharedDown = true;
    this.log.warn(
      { err, failMode: this.settings.failMode },
      this.settings.failMode === 'open'
        ? 'rate limiter: Redis unreachable; counting on this node until it is back (fail-open)'
        : 'rate limiter: Redis unreachable; refusing rate-limited requests until it is back (fail-closed)',
    );
  }
}
