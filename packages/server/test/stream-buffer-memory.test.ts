import { MemoryStreamBuffer } from '../src/streams/memory.js';
import { streamBufferContract } from './stream-buffer-contract.js';

let next = 0;
// One process: the memory buffer is one instance for both "nodes".
streamBufferContract('memory', {
  async make(graceMs) {
    const cancels = { a: [] as string[], b: [] as string[] };
    const buffer = new MemoryStreamBuffer({ maxTokens: 10, maxBytes: 64, graceMs, idleMs: 60_000 });
    await buffer.start((channel, stream) => {
      cancels.a.push(`${channel} ${stream}`);
      cancels.b.push(`${channel} ${stream}`);
    });
    return { a: buffer, b: buffer, cancels, channel: `ai:m${next++}`, close: () => buffer.close() };
  },
});
