import type { PrimaryLink } from '../workers/primary-link.js';
import type { RateLimiter, RateRule, RateVerdict } from './rate-limiter.js';

/**
 * The rate limiter of one worker of `herald serve --workers N`: every hit is counted by the
 * primary process in one `MemoryRateLimiter`, so a limit holds for the whole machine, as
 * Redis makes it hold for a cluster. The primary runs each call to completion before the
 * next: N hits on a key with limit L allow exactly min(N, L), whichever workers they reach.
 * A call the primary does not answer within the link's timeout rejects (RateLimits then
 * counts on this worker alone, as with a Redis outage).
 */
export class IpcRateLimiter implements RateLimiter {
  constructor(private readonly primary: PrimaryLink) {}

  async hit(rules: readonly RateRule[]): Promise<RateVerdict> {
    return (await this.primary.call('rate.hit', rules)) as RateVerdict;
  }

  async close(): Promise<void> {}
}
