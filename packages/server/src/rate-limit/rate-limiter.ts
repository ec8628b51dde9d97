/**
 * The RateLimiter seam: counts requests against named limits.
 *
 * Contract (every backend runs `test/rate-limiter-contract.ts`):
 * - Windows: each key has a fixed window that starts with the first hit after the previous
 *   window ended and lasts `windowMs`. The count of a key is the number of hits in its
 *   current window; a new window starts at 0.
 * - Counting: `hit` counts one hit against every rule it is given, refused or not, so a
 *   client that keeps hammering stays refused until its window ends (it cannot earn a slot
 *   by being refused). Keys are independent of each other.
 * - Verdict: the hit is allowed when, for every rule, the count (including this hit) is at
 *   most `limit`. When refused, `retryAfterMs` is the time until the latest-ending window
 *   among the rules that are over their limit (> 0), and `rule` is one of them.
 * - Atomicity: the hits of one call are counted together, and concurrent callers sharing a
 *   backend (one process for `memory.ts`, every node of a cluster for `redis.ts`) never lose
 *   or double an increment: N hits on a key with limit L allow exactly min(N, L).
 * - Errors: a networked backend rejects when it cannot count (unreachable, timed out); the
 *   caller decides whether that lets the request through (see `rate-limits.ts`). It never
 *   hangs longer than its own command timeout.
 */

export interface RateRule {
  /** Counter key, unique per limit and subject, e.g. `pub-ip:203.0.113.7`. Never a secret. */
  readonly key: string;
  /** Hits allowed per window (at least 1). */
  readonly limit: number;
  readonly windowMs: number;
  /** Name of the limit for errors and metrics (a fixed word, never request data). */
  readonly name: string;
}

export type RateVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number; readonly rule: RateRule };

export interface RateLimiter {
  /** Counts one hit against every rule; resolves with the verdict. */
  hit(rules: readonly RateRule[]): Promise<RateVerdict>;
  /** Starts connecting a networked backend; never throws. */
  start?(): void;
  /** Resolves once a networked backend is connected (at once for memory). */
  ready?(): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** Applies the contract's verdict rule to per-rule counts and remaining window times. */
export function verdictOf(
  rules: readonly RateRule[],
  counts: readonly { count: number; remainingMs: number }[],
): RateVerdict {
  let refused: { rule: RateRule; remainingMs: number } | undefined;
  rules.forEach((rule, i) => {
    const c = counts[i];
    if (!c || c.count <= rule.limit) return;
    if (!refused || c.remainingMs > refused.remainingMs)
      refused = { rule, remainingMs: c.remainingMs };
  });
  if (!refused) return { allowed: true };
  return { allowed: false, retryAfterMs: Math.max(1, refused.remainingMs), rule: refused.rule };
}
