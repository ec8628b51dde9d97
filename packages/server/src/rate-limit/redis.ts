import { Redis } from 'ioredis';
import { type RateLimiter, type RateRule, type RateVerdict, verdictOf } from './rate-limiter.js';

/**
 * The cluster-wide rate limiter: every node counts in the same Redis keys, so a limit holds
 * for the whole cluster, not per node.
 *
 * One round trip per check: a Lua script increments every key of the call and starts the
 * window of a key it created (INCR then PEXPIRE), and Redis runs a script atomically, so two
 * nodes can never both see "first hit" or lose an increment. A key that somehow lost its
 * expiry (it cannot through this script, but a restored snapshot could) is given one again
 * rather than counting forever. Keys are `<prefix><rule key>`, prefix `herald:rl:`.
 *
 * The connection is its own (not the broker's): a subscriber connection cannot run
 * commands, and rate checks must not queue behind a burst of publishes. Commands fail fast
 * while Redis is unreachable (no offline queue); the caller picks fail-open or fail-closed.
 */
export interface RedisRateLimiterOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly url: string;
  /** Key prefix. Default `herald:rl:`. */
  readonly prefix?: string;
  /** Longest wait for one check, ms. Default 500: a slow Redis must not stall publishing. */
  readonly commandTimeoutMs?: number;
  /** Connection errors (the connection retries by itself). */
  readonly onError?: (err: unknown) => void;
}

const SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[i])
  local n = redis.call('INCR', key)
  local ttl = -1
  if n > 1 then ttl = redis.call('PTTL', key) end
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
`;

interface WithHit {
  heraldRateHit(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly prefix: string;
  private closing: Promise<void> | undefined;

  constructor(options: RedisRateLimiterOptions) {
    this.prefix = options.prefix ?? 'herald:rl:';
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      connectionName: 'herald:rl',
      commandTimeout: options.commandTimeoutMs ?? 500,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      keepAlive: 10_000,
      // Keep trying for as long as an outage lasts, at most every 2 s.
      retryStrategy: (times: number) => Math.min(times * 50, 2000),
    });
    this.redis.on('error', (err) => options.onError?.(err));
    this.redis.defineCommand('heraldRateHit', { lua: SCRIPT });
  }

  /** Starts connecting; never rejects (until connected, checks fail and the caller decides). */
  start(): void {
    this.redis.connect().catch(() => undefined);
  }

  /** Resolves once the connection is ready (tests). */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => this.redis.once('ready', () => resolve()));
  }

  async hit(rules: readonly RateRule[]): Promise<RateVerdict> {
    if (rules.length === 0) return { allowed: true };
    if (this.redis.status !== 'ready') throw new Error(`Redis is ${this.redis.status}`);
    const keys = rules.map((r) => this.prefix + r.key);
    const windows = rules.map((r) => r.windowMs);
    const raw = await (this.redis as unknown as WithHit).heraldRateHit(
      keys.length,
      ...keys,
      ...windows,
    );
    const counts = rules.map((_, i) => ({
      count: Number(raw[2 * i]),
      remainingMs: Number(raw[2 * i + 1]),
    }));
    return verdictOf(rules, counts);
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      const r = this.redis;
      if (r.status === 'ready') await r.quit().catch(() => r.disconnect());
      else r.disconnect();
    })();
    return this.closing;
  }
}
