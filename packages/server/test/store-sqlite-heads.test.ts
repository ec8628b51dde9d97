import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EventInput, StoredEvent } from '../src/store/store.js';
import { sqliteFiles } from './sqlite-files.js';

// Known heads (src/store/sqlite.ts, `heads`): appends write only the events, and a connection
// numbers a channel from the heads it assigned itself while no other connection has
// committed. These tests interleave connections on one file and check that no sequence is
// handed out twice or skipped, whatever the connection remembered.

const { file: newFile, open } = sqliteFiles('herald-heads-');

function ev(channel: string, extra: Partial<EventInput> = {}): EventInput {
  return { id: randomUUID(), channel, type: 'test', data: '{}', ts: Date.now(), ...extra };
}

const seqs = (events: readonly StoredEvent[]) => events.map((e) => e.seq);

describe('SqliteStore known heads', () => {
  it("forgets its heads when another connection appended, and numbers after that one's events", async () => {
    const path = newFile();
    const a = await open(path);
    const b = await open(path);
    expect(seqs(await a.append([ev('c'), ev('c')]))).toEqual([1, 2]);
    // a now knows head 2; b appends without a knowing, then a again, then b again.
    expect(seqs(await b.append([ev('c')]))).toEqual([3]);
    expect(seqs(await a.append([ev('c'), ev('d')]))).toEqual([4, 1]);
    expect(seqs(await b.append([ev('d'), ev('c')]))).toEqual([2, 5]);
    expect(seqs(await a.readAfter('c', 0, 10))).toEqual([1, 2, 3, 4, 5]);
    expect((await b.ensureChannels(['c', 'd'])).map((h) => h.seq)).toEqual([5, 2]);
  });

  it('a connection that never wrote a channel finds its head after retention deleted every event', async () => {
    const path = newFile();
    const a = await open(path);
    const old = Date.now() - 3_600_000;
    await a.append([ev('gone', { ts: old }), ev('gone', { ts: old }), ev('gone', { ts: old })]);
    expect(await a.trim({ maxAgeMs: 60_000, maxEvents: 0 }, Date.now())).toBe(3);
    // A new connection (a restarted node) has no known heads: the channel row keeps 3.
    const b = await open(path);
    const [head] = await b.ensureChannels(['gone']);
    expect([head?.seq, head?.trimmedSeq]).toEqual([3, 3]);
    expect(seqs(await b.append([ev('gone')]))).toEqual([4]);
  });

  it('a failed group leaves no head behind: the next append reuses the sequence', async () => {
    const a = await open(newFile());
    expect(seqs(await a.append([ev('f')]))).toEqual([1]);
    const bad = ev('f', { data: null as unknown as string });
    await expect(a.append([ev('f'), bad])).rejects.toThrow();
    expect(seqs(await a.append([ev('f')]))).toEqual([2]);
  });
});
