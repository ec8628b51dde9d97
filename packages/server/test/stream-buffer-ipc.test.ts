import { IpcStreamBuffer } from '../src/streams/ipc.js';
import { WorkerRelay } from '../src/workers/relay.js';
import { linkTo } from './ipc-links.js';
import { streamBufferContract } from './stream-buffer-contract.js';

let next = 0;
// Two workers of one primary, which holds the tokens.
streamBufferContract('ipc', {
  async make(graceMs) {
    const relay = new WorkerRelay({ maxTokens: 10, maxBytes: 64, graceMs, idleMs: 60_000 });
    await relay.start();
    const la = linkTo(relay, 0);
    const lb = linkTo(relay, 1);
    const a = new IpcStreamBuffer(la.link);
    const b = new IpcStreamBuffer(lb.link);
    const cancels = { a: [] as string[], b: [] as string[] };
    await a.start((channel, stream) => cancels.a.push(`${channel} ${stream}`));
    await b.start((channel, stream) => cancels.b.push(`${channel} ${stream}`));
    return {
      a,
      b,
      cancels,
      channel: `ai:i${next++}`,
      async close() {
        await a.close();
        await b.close();
        la.close();
        lb.close();
        await relay.close();
      },
    };
  },
});
