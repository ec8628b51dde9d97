import { describe, expect, it } from 'vitest';
import type { StreamBuffer } from '../src/streams/stream-buffer.js';
import { waitFor } from './helpers.js';

export interface StreamBufferHarness {
  /**
   * Two instances over one backend (two nodes), bounds maxTokens 10, maxBytes 64, grace
   * `graceMs`, and each one's cancel notices. Channels are unique per call.
   */
  make(graceMs: number): Promise<{
    a: StreamBuffer;
    b: StreamBuffer;
    cancels: { a: string[]; b: string[] };
    channel: string;
    close: () => Promise<void>;
  }>;
}

/** The StreamBuffer contract (src/streams/stream-buffer.ts), run by every backend. */
export function streamBufferContract(name: string, harness: StreamBufferHarness): void {
  describe(`StreamBuffer contract: ${name}`, () => {
    it('indexes tokens in append order and reads them back from any instance', async () => {
      const { a, b, channel, close } = await harness.make(60_000);
      expect(await a.begin(channel, 's1', '{"stream":"s1"}')).toBe(true);
      expect(await a.append(channel, 's1', ['a', 'b'])).toEqual({ first: 0, cancelled: false });
      expect(await b.append(channel, 's1', ['c'])).toEqual({ first: 2, cancelled: false });
      expect(await b.read(channel, 1, 10)).toMatchObject({
        stream: 's1',
        status: 'streaming',
        n: 3,
        from: 1,
        tokens: ['b', 'c'],
        start: '{"stream":"s1"}',
      });
      expect(await b.read(channel, 0, 10, 'other')).toBeUndefined();
      expect(await a.latest('ai:none')).toBeUndefined();
      await close();
    });

    it('holds one streaming answer per channel; a finished one is replaced', async () => {
      const { a, b, channel, close } = await harness.make(60_000);
      expect(await a.begin(channel, 's1', '{}')).toBe(true);
      expect(await b.begin(channel, 's2', '{}')).toBe(false);
      await a.finish(channel, 's1', 'complete');
      expect(await a.latest(channel)).toMatchObject({ stream: 's1', status: 'complete' });
      expect(await a.append(channel, 's1', ['late'])).toEqual({ refused: 'gone' });
      expect(await b.begin(channel, 's2', '{}')).toBe(true);
      expect(await a.read(channel, 0, 10)).toMatchObject({ stream: 's2', n: 0, tokens: [] });
      await close();
    });

    it('refuses a whole append past maxTokens or maxBytes', async () => {
      const { a, channel, close } = await harness.make(60_000);
      await a.begin(channel, 's1', '{}');
      expect(await a.append(channel, 's1', Array(9).fill('x'))).toMatchObject({ first: 0 });
      expect(await a.append(channel, 's1', ['y', 'z'])).toEqual({ refused: 'too-long' });
      expect((await a.latest(channel))?.n).toBe(9);
      const other = `${channel}:bytes`;
      await a.begin(other, 's2', '{}');
      expect(await a.append(other, 's2', ['é'.repeat(33)])).toEqual({ refused: 'too-long' });
      await close();
    });

    it('drops a finished answer after the grace period', async () => {
      const { a, channel, close } = await harness.make(0);
      await a.begin(channel, 's1', '{}');
      await a.append(channel, 's1', ['a']);
      await a.finish(channel, 's1', 'error');
      await waitFor(async () => (await a.latest(channel)) === undefined);
      expect(await a.read(channel, 0, 10, 's1')).toBeUndefined();
      await close();
    });

    it('cancels on one instance and tells every instance; appends then store nothing', async () => {
      const { a, b, cancels, channel, close } = await harness.make(60_000);
      await a.begin(channel, 's1', '{}');
      expect(await b.cancel(channel)).toBe('s1');
      await waitFor(() => cancels.a.length === 1 && cancels.b.length === 1);
      expect(cancels.a).toEqual([`${channel} s1`]);
      expect(await a.append(channel, 's1', ['x'])).toEqual({ cancelled: true });
      expect(await a.latest(channel)).toMatchObject({ status: 'cancelled', n: 0 });
      expect(await b.cancel(channel)).toBeUndefined(); // not streaming any more
      await close();
    });
  });
}
