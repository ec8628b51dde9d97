import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../src/sse/session.js';
import { Sweeper } from '../src/sse/sweeper.js';

/** Just what the sweeper touches of a Session, counting what it did. */
class FakeSession {
  silent = 0;
  beats = 0;
  visits = 0;
  closed: string | undefined;
  constructor(public expiresAt: number | undefined = undefined) {}
  silentVisit(): number {
    this.visits++;
    return ++this.silent;
  }
  heartbeat(): void {
    this.beats++;
    this.silent = 0;
  }
  /** What an event on the stream does to the silence count. */
  wrote(): void {
    this.silent = 0;
  }
  writeControl(): void {}
  close(reason: string): void {
    this.closed = reason;
  }
}

describe('Sweeper (shared heartbeat and expiry timer)', () => {
  let sweeper: Sweeper | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    sweeper?.stop();
    vi.useRealTimers();
  });

  const start = (fakes: FakeSession[], heartbeatMs: number, ticks: number[] = []) => {
    const sessions = new Set(fakes as unknown as Session[]);
    sweeper = new Sweeper({ sessions, heartbeatMs, onHeartbeats: (n) => ticks.push(n) });
    return sessions;
  };

  it('visits every stream once per period, spread over ten ticks', () => {
    const fakes = Array.from({ length: 1000 }, () => new FakeSession());
    start(fakes, 15_000);
    const before = fakes.map((f) => f.visits);
    let busiest = 0;
    for (let t = 0; t < 10; t++) {
      const sum = fakes.reduce((n, f) => n + f.visits, 0);
      vi.advanceTimersByTime(100);
      busiest = Math.max(busiest, fakes.reduce((n, f) => n + f.visits, 0) - sum);
    }
    expect(fakes.every((f, i) => f.visits === (before[i] ?? 0) + 1)).toBe(true);
    expect(busiest).toBeLessThanOrEqual(100);
  });

  it('heartbeats only streams silent for heartbeatMs, never all in one tick', () => {
    const quiet = Array.from({ length: 500 }, () => new FakeSession());
    const busy = Array.from({ length: 500 }, () => new FakeSession());
    const perTick: number[] = [];
    start([...quiet, ...busy], 3000, perTick);
    for (let ms = 0; ms < 9000; ms += 100) {
      for (const b of busy) b.wrote();
      vi.advanceTimersByTime(100);
    }
    expect(busy.every((b) => b.beats === 0)).toBe(true);
    // 9 s of silence with a 3 s heartbeat: three each.
    expect(quiet.every((q) => q.beats === 3)).toBe(true);
    expect(Math.max(...perTick)).toBeLessThanOrEqual(100);
  });

  it('closes streams whose token expired within a period, and sees streams added meanwhile', () => {
    const now = Date.now();
    const fakes = [new FakeSession(now + 500), new FakeSession(now + 60_000), new FakeSession()];
    const sessions = start(fakes, 15_000);
    const late = new FakeSession(now + 200);
    vi.advanceTimersByTime(300);
    sessions.add(late as unknown as Session);
    vi.advanceTimersByTime(1700);
    expect(fakes.map((f) => f.closed)).toEqual(['token-expired', undefined, undefined]);
    expect(late.closed).toBe('token-expired');
  });
});
