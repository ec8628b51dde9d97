import { describe, expect, it } from 'vitest';
import { ReplayFrames } from '../src/hub/replay-frames.js';
import { Frame } from '../src/sse/frame.js';
import type { StoredEvent } from '../src/store/store.js';

const row = (channel: string, seq: number, data = `{"n":${seq}}`, type = 'tick'): StoredEvent => ({
  id: `${channel}-${seq}`,
  channel,
  seq,
  type,
  data,
  ts: 0,
});

describe('replay frame cache', () => {
  it('frames a row once and returns the frame of exactly that row', () => {
    const frames = new ReplayFrames();
    const a = frames.frameOf(row('room:a', 1));
    expect(frames.frameOf(row('room:a', 1))).toBe(a);
    expect(a.body.toString()).toBe('event: tick\nchannel: room:a\ndata: {"n":1}\n\n');
    const b = frames.frameOf(row('room:b', 1));
    expect(b).not.toBe(a);
    expect(b.body).toEqual(new Frame('tick', '{"n":1}', 'room:b').body);
    expect(frames.frameOf(row('room:a', 2)).body).toEqual(
      new Frame('tick', '{"n":2}', 'room:a').body,
    );
  });

  it('builds a new frame when a sequence comes back with other content (history begun again)', () => {
    const frames = new ReplayFrames();
    const old = frames.frameOf(row('room:a', 1, '"old"'));
    const fresh = frames.frameOf(row('room:a', 1, '"new"'));
    expect(fresh).not.toBe(old);
    expect(fresh.body).toEqual(new Frame('tick', '"new"', 'room:a').body);
    const retyped = frames.frameOf(row('room:a', 1, '"new"', 'other'));
    expect(retyped.body).toEqual(new Frame('other', '"new"', 'room:a').body);
    expect(frames.size).toBe(1);
  });

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const frames = new ReplayFrames(3);
    const first = frames.frameOf(row('c', 1));
    const second = frames.frameOf(row('c', 2));
    frames.frameOf(row('c', 3));
    expect(frames.frameOf(row('c', 1))).toBe(first); // now the most recent
    frames.frameOf(row('c', 4));
    expect(frames.size).toBe(3);
    expect(frames.frameOf(row('c', 1))).toBe(first);
    expect(frames.frameOf(row('c', 2))).not.toBe(second);
  });

  it('keeps at most maxBytes, and does not keep a frame larger than that', () => {
    const big = 'x'.repeat(1000);
    const frames = new ReplayFrames(4096, 10_000);
    for (let seq = 1; seq <= 20; seq++) frames.frameOf(row('c', seq, big));
    // Each entry counts its body twice plus its data: about 3 KB, so three fit in 10 KB.
    expect(frames.size).toBe(3);
    const huge = frames.frameOf(row('c', 21, 'x'.repeat(20_000)));
    expect(huge.body).toEqual(new Frame('tick', 'x'.repeat(20_000), 'c').body);
    expect(frames.size).toBe(0);
  });
});
