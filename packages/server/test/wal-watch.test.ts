import { describe, expect, it } from 'vitest';
import { WalWatch } from '../src/store/wal-watch.js';

// The checkpoint thread's decision (src/store/wal-watch.ts): report a long WAL once, make no
// pass while the report waits, and stay quiet after a RESTART until the store has started the
// WAL over, unless it was not.
describe('WalWatch', () => {
  it('reports a long WAL once and waits for the RESTART', () => {
    const w = new WalWatch(1000);
    expect(w.afterPass(10)).toBe(false);
    expect(w.afterPass(999)).toBe(false);
    expect(w.waiting).toBe(false);
    expect(w.afterPass(1200)).toBe(true);
    expect(w.waiting).toBe(true);
    expect(w.afterPass(1300)).toBe(false);
  });

  it('after a RESTART, the same length is not reported again; the WAL started over is short', () => {
    const w = new WalWatch(1000);
    expect(w.afterPass(1200)).toBe(true);
    w.afterRestart(false, 1250);
    expect(w.waiting).toBe(false);
    // The store has not committed since: still 1250 frames, the same WAL.
    expect(w.afterPass(1250)).toBe(false);
    expect(w.afterPass(1250)).toBe(false);
    // The store's commit started it over; later it grows long again and is reported.
    expect(w.afterPass(40)).toBe(false);
    expect(w.afterPass(1100)).toBe(true);
  });

  it('reports again when the WAL grew after a RESTART without starting over, or the RESTART gave up', () => {
    const grew = new WalWatch(1000);
    grew.afterPass(1200);
    grew.afterRestart(false, 1250);
    expect(grew.afterPass(1400)).toBe(true);

    const gaveUp = new WalWatch(1000);
    gaveUp.afterPass(1200);
    gaveUp.afterRestart(true, 1250);
    expect(gaveUp.afterPass(1250)).toBe(true);
  });
});
