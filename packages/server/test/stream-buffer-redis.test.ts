import { randomUUID } from 'node:crypto';
import { RedisStreamBuffer } from '../src/streams/redis.js';
import { REDIS_URL } from './cluster-harness.js';
import { streamBufferContract } from './stream-buffer-contract.js';

// Two instances over the real Redis: two nodes of one cluster (same prefix).
streamBufferContract('redis', {
  async make(graceMs) {
    const prefix = `herald-test:${randomUUID()}:streams:`;
    const bounds = { maxTokens: 10, maxBytes: 64, graceMs, idleMs: 60_000, url: REDIS_URL, prefix };
    const a = new RedisStreamBuffer(bounds);
    const b = new RedisStreamBuffer(bounds);
    const cancels = { a: [] as string[], b: [] as string[] };
    await a.start((channel, stream) => cancels.a.push(`${channel} ${stream}`));
    await b.start((channel, stream) => cancels.b.push(`${channel} ${stream}`));
    return {
      a,
      b,
      cancels,
      channel: 'ai:r1',
      close: async () => {
        await a.close();
        await b.close();
      },
    };
  },
});
