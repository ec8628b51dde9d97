import { describe, expect, it } from 'vitest';
import { SharedReads } from '../src/hub/shared-reads.js';
import type { StoredEvent } from '../src/store/store.js';

const row = (channel: string, seq: number): StoredEvent => ({
  id: `${channel}-${seq}`,
  channel,
  seq,
  type: 'tick',
  data: `{"n":${seq}}`,
  ts: 0,
});

/** A store whose reads stay open until `finish` is called, counting every read. */
function gatedStore() {
  const calls: { channel: string; after: number; limit: number }[] = [];
  const open: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const store = {
    readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
      calls.push({ channel, after, limit });
      return new Promise((resolve, reject) => {
        open.push({
          resolve: () => resolve([row(channel, after + 1), row(channel, after + 2)]),
          reject,
        });
      });
    },
  };
  const finish = () => {
    for (const r of open.splice(0)) r.resolve();
  };
  return { store, calls, open, finish };
}

describe('shared replay reads', () => {
  it('runs one store read for identical replays in flight, and hands all the same rows', async () => {
    const { store, calls, finish } = gatedStore();
    const reads = new SharedReads(store);
    const many = Array.from({ length: 50 }, () => reads.readAfter('room', 10, 100, 12));
    expect(calls).toHaveLength(1);
    finish();
    const rows = await Promise.all(many);
    for (const r of rows) expect(r).toBe(rows[0]);
    expect(rows[0]?.map((e) => e.seq)).toEqual([11, 12]);
    expect(reads.pending).toBe(0);
  });

  it('reads separately for another cursor, page size, channel or head', async () => {
    const { store, calls, finish } = gatedStore();
    const reads = new SharedReads(store);
    const all = [
      reads.readAfter('room', 10, 100, 12),
      reads.readAfter('room', 11, 100, 12),
      reads.readAfter('room', 10, 50, 12),
      reads.readAfter('hall', 10, 100, 12),
      // The channel delivered an event since the first read began: that read may miss it.
      reads.readAfter('room', 10, 100, 13),
    ];
    expect(calls).toHaveLength(5);
    finish();
    await Promise.all(all);
  });

  it('never shares a read without a head, nor one that has settled', async () => {
    const { store, calls, finish } = gatedStore();
    const reads = new SharedReads(store);
    const a = reads.readAfter('room', 10, 100, undefined);
    const b = reads.readAfter('room', 10, 100, undefined);
    expect(calls).toHaveLength(2);
    finish();
    await Promise.all([a, b]);
    const first = reads.readAfter('room', 10, 100, 12);
    finish();
    await first;
    const later = reads.readAfter('room', 10, 100, 12);
    expect(calls).toHaveLength(4);
    finish();
    await later;
  });

  it('fails every replay waiting on a failed read, and keeps no failure', async () => {
    const { store, calls, open, finish } = gatedStore();
    const reads = new SharedReads(store);
    const a = reads.readAfter('room', 10, 100, 12);
    const b = reads.readAfter('room', 10, 100, 12);
    open.splice(0).forEach((r) => r.reject(new Error('store down')));
    await expect(a).rejects.toThrow('store down');
    await expect(b).rejects.toThrow('store down');
    expect(reads.pending).toBe(0);
    const again = reads.readAfter('room', 10, 100, 12);
    expect(calls).toHaveLength(2);
    finish();
    expect((await again).map((e) => e.seq)).toEqual([11, 12]);
  });
});
