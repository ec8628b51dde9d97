import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { RateLimiter, RateRule } from '../src/rate-limit/rate-limiter.js';
import { waitFor } from './helpers.js';

/**
 * The RateLimiter contract (see src/rate-limit/rate-limiter.ts), run by every backend.
 * `make` returns a limiter; limiters made by one suite share their backend (two "nodes").
 */
export function rateLimiterContract(name: string, make: () => Promise<RateLimiter>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    const made: RateLimiter[] = [];
    const limiter = async () => {
      const l = await make();
      made.push(l);
      return l;
    };
    afterAll(async () => {
      await Promise.all(made.map((l) => l.close()));
    });

    const rule = (limit: number, windowMs = 60_000, key = randomUUID()): RateRule => ({
      key: `test:${key}`,
      limit,
      windowMs,
      name: 'test',
    });

    it('allows exactly the limit in a window, then refuses with the time left', async () => {
      const l = await limiter();
      const r = rule(3, 60_000);
      const verdicts = [];
      for (let i = 0; i < 5; i++) verdicts.push(await l.hit([r]));
      expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, false, false]);
      const refused = verdicts[4]!;
      if (refused.allowed) throw new Error('unreachable');
      expect(refused.rule).toEqual(r);
      expect(refused.retryAfterMs).toBeGreaterThan(50_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    });

    it('starts a new window when the old one ends', async () => {
      const l = await limiter();
      const r = rule(2, 300);
      expect((await l.hit([r])).allowed).toBe(true);
      expect((await l.hit([r])).allowed).toBe(true);
      expect((await l.hit([r])).allowed).toBe(false);
      // Refused hits keep counting in the old window; the first hit of the next one passes.
      await waitFor(async () => (await l.hit([r])).allowed, 5000, 'the next window');
      expect((await l.hit([r])).allowed).toBe(true);
      expect((await l.hit([r])).allowed).toBe(false);
    });

    it('keeps keys apart, and refuses a call when any of its rules is over', async () => {
      const l = await limiter();
      const a = rule(1);
      const b = rule(5);
      expect((await l.hit([a])).allowed).toBe(true);
      expect((await l.hit([b])).allowed).toBe(true);
      const both = await l.hit([b, a]);
      expect(both.allowed).toBe(false);
      if (!both.allowed) expect(both.rule.key).toBe(a.key);
      // The refused call still counted against b: 2 hits so far, 3 left.
      const rest = [];
      for (let i = 0; i < 4; i++) rest.push((await l.hit([b])).allowed);
      expect(rest).toEqual([true, true, true, false]);
    });

    it('never loses or doubles a hit under concurrency, across limiters sharing a backend', async () => {
      const [x, y] = [await limiter(), await limiter()];
      const r = rule(120);
      const hits = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? x : y).hit([r]));
      const verdicts = await Promise.all(hits);
      expect(verdicts.filter((v) => v.allowed)).toHaveLength(120);
    });
  });
}
