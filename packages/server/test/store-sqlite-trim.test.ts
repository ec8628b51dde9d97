import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SqliteStore } from '../src/store/sqlite.js';
import type { EventInput } from '../src/store/store.js';
import { sqliteFiles } from './sqlite-files.js';

// Retention in slices (src/store/sqlite.ts, `trim`): a sweep is many short transactions with
// turns of the event loop between them, so appends and deliveries go on during it. These
// tests use tiny slices (3 channels, about 7 events) and check that a sliced sweep deletes
// exactly what one transaction would, records `trimmedSeq` the same way, and lets the event
// loop (and appends) run while it works.

const { file: newFile, open } = sqliteFiles('herald-trim-');
const small = { trimChannelsPerSlice: 3, trimRowsPerSlice: 7 };

function ev(channel: string, ts = Date.now()): EventInput {
  return { id: randomUUID(), channel, type: 'test', data: '{}', ts };
}

/** Appends `n` events to `channel`, in requests of at most 20. */
async function fill(store: SqliteStore, channel: string, n: number, ts?: number): Promise<void> {
  for (let done = 0; done < n; done += 20) {
    const k = Math.min(20, n - done);
    await store.append(Array.from({ length: k }, () => ev(channel, ts)));
  }
}

/** Runs `work` and counts the turns of the event loop that passed before it settled. */
async function countTurns<T>(work: Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let settled = false;
  const tick = () => {
    if (settled) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { value: await work, turns };
  } finally {
    settled = true;
  }
}

async function kept(store: SqliteStore, channel: string): Promise<number[]> {
  return (await store.readAfter(channel, 0, 1000)).map((e) => e.seq);
}

describe('SqliteStore retention in slices', () => {
  it('trims by count across many slices, with the event loop running between them', async () => {
    const s = await open(newFile(), small);
    const names = Array.from({ length: 10 }, (_, i) => `c${i}`);
    for (const [i, name] of names.entries()) await fill(s, name, 2 + i * 3);
    // Keep 4 per channel: c0 (2 events) and c1 (5) lose 0 and 1, c9 (29) loses 25.
    const excess = names.map((_, i) => Math.max(0, 2 + i * 3 - 4));
    const { value: deleted, turns } = await countTurns(
      s.trim({ maxAgeMs: 0, maxEvents: 4 }, Date.now()),
    );
    expect(deleted).toBe(excess.reduce((a, b) => a + b, 0));
    // About 7 deletions a slice: 17 slices, each a turn (one transaction would be 0 or 1).
    expect(turns).toBeGreaterThanOrEqual(10);
    const heads = await s.ensureChannels(names);
    for (const [i, name] of names.entries()) {
      const total = 2 + i * 3;
      expect(await kept(s, name)).toEqual(
        Array.from({ length: Math.min(4, total) }, (_, k) => total - Math.min(4, total) + 1 + k),
      );
      expect([heads[i]?.seq, heads[i]?.trimmedSeq]).toEqual([total, excess[i]]);
    }
    expect(await s.trim({ maxAgeMs: 0, maxEvents: 4 }, Date.now())).toBe(0);
  });

  it('cuts a channel longer than a slice in several slices, oldest first', async () => {
    const s = await open(newFile(), small);
    await fill(s, 'long', 50);
    const { value: deleted, turns } = await countTurns(
      s.trim({ maxAgeMs: 0, maxEvents: 5 }, Date.now()),
    );
    expect(deleted).toBe(45);
    expect(turns).toBeGreaterThanOrEqual(5); // 7 slices of 7
    expect(await kept(s, 'long')).toEqual([46, 47, 48, 49, 50]);
    expect((await s.ensureChannels(['long']))[0]?.trimmedSeq).toBe(45);
  });

  it('trims by age in slices of the oldest events', async () => {
    const s = await open(newFile(), small);
    const now = Date.now();
    const names = Array.from({ length: 8 }, (_, i) => `a${i}`);
    for (const name of names) {
      await fill(s, name, 3, now - 3_600_000);
      await fill(s, name, 2, now);
    }
    const { value: deleted, turns } = await countTurns(
      s.trim({ maxAgeMs: 60_000, maxEvents: 0 }, now),
    );
    expect(deleted).toBe(24);
    expect(turns).toBeGreaterThanOrEqual(3); // 4 slices of 7
    const heads = await s.ensureChannels(names);
    for (const [i, name] of names.entries()) {
      expect(await kept(s, name)).toEqual([4, 5]);
      expect([heads[i]?.seq, heads[i]?.trimmedSeq]).toEqual([5, 3]);
    }
  });

  it('commits appends made during a sweep before the sweep ends', async () => {
    const s = await open(newFile(), small);
    for (let i = 0; i < 12; i++) await fill(s, `b${i}`, 10);
    let appended = false;
    const sweep = s.trim({ maxAgeMs: 0, maxEvents: 2 }, Date.now()).then((n) => {
      expect(appended).toBe(true);
      return n;
    });
    const stored = await s.append([ev('b0'), ev('late')]);
    appended = true;
    expect(stored.map((e) => [e.channel, e.seq])).toEqual([
      ['b0', 11],
      ['late', 1],
    ]);
    expect(await sweep).toBeGreaterThanOrEqual(12 * 8);
    expect(await kept(s, 'late')).toEqual([1]);
  });

  it('runs sweeps one after the other', async () => {
    const s = await open(newFile(), small);
    for (let i = 0; i < 6; i++) await fill(s, `d${i}`, 9);
    const policy = { maxAgeMs: 0, maxEvents: 3 };
    const [first, second] = await Promise.all([
      s.trim(policy, Date.now()),
      s.trim(policy, Date.now()),
    ]);
    expect([first, second]).toEqual([36, 0]);
  });

  it('a sweep stopped by close leaves every channel trimmed from its oldest event, as recorded', async () => {
    const path = newFile();
    const s = await open(path, small);
    const names = Array.from({ length: 9 }, (_, i) => `e${i}`);
    for (const name of names) await fill(s, name, 12);
    const sweep = s.trim({ maxAgeMs: 0, maxEvents: 2 }, Date.now());
    await new Promise((resolve) => setImmediate(resolve));
    await s.close();
    const deleted = await sweep;
    expect(deleted).toBeGreaterThan(0);
    expect(deleted).toBeLessThan(9 * 10);
    const again = await open(path);
    const heads = await again.ensureChannels(names);
    let left = 0;
    for (const [i, name] of names.entries()) {
      const seqs = await kept(again, name);
      const trimmed = heads[i]?.trimmedSeq ?? -1;
      expect(seqs).toEqual(Array.from({ length: 12 - trimmed }, (_, k) => trimmed + 1 + k));
      left += seqs.length;
    }
    expect(left).toBe(9 * 12 - deleted);
  });
});
