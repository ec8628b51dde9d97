/**
 * Full-jitter exponential backoff: a uniform random delay in [0, min(max, base * 2^attempt)],
 * never below `base` (so a flapping server is not hammered) and never above `max`. Spreading
 * reconnects uniformly keeps a restarted node from being hit by every client at one instant.
 */
export function fullJitter(attempt: number, base: number, max: number): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.min(max, base + Math.random() * Math.max(0, ceiling - base));
}
