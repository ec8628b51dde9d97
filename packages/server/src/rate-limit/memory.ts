import { type RateLimiter, type RateRule, type RateVerdict, verdictOf } from './rate-limiter.js';

interface Window {
  count: number;
  endsAt: number;
}

/**
 * The node-local rate limiter: fixed windows in a Map. The default with no Redis, and the
 * fallback of a Redis limiter that cannot reach Redis (limits then hold per node).
 *
 * Memory stays bounded by the keys seen in one window: expired windows are swept once per
 * `sweepEvery` new keys, so a client cycling through addresses cannot grow the map without
 * bound, and no timer runs per key (or at all).
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, Window>();
  private inserts = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sweepEvery = 10_000,
  ) {}

  async hit(rules: readonly RateRule[]): Promise<RateVerdict> {
    return this.hitSync(rules);
  }

  /** The same as `hit`, without a promise (JavaScript runs it to completion: atomic). */
  hitSync(rules: readonly RateRule[]): RateVerdict {
    const now = this.now();
    const counts = rules.map((rule) => {
      let w = this.windows.get(rule.key);
      if (!w || w.endsAt <= now) {
        w = { count: 0, endsAt: now + rule.windowMs };
        this.windows.set(rule.key, w);
        if (++this.inserts >= this.sweepEvery) this.sweep(now);
      }
      w.count++;
      return { count: w.count, remainingMs: w.endsAt - now };
    });
    return verdictOf(rules, counts);
  }

  /** Number of live windows (tests check memory stays bounded). */
  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    this.inserts = 0;
    for (const [key, w] of this.windows) if (w.endsAt <= now) this.windows.delete(key);
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}
