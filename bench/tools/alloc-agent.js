// Loaded into a server under measurement (`node --import <this file> …`, e.g. through
// request-cost.js --node-args="--import ./bench/tools/alloc-agent.js" --signal SIGUSR2): from
// start-up on, V8's sampling heap profiler records allocations, those already collected
// included (what the garbage collector pays for, not only what stays). On SIGUSR2 it writes
// the profile to $ALLOC_AGENT_OUT (a .heapprofile, readable by Chrome's DevTools) and, beside
// it, a .txt with the bytes allocated per function, largest first. Nothing else changes in
// the server.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { allocationSummary, startAllocationSampling } from '../lib/alloc-summary.js';

const out = process.env.ALLOC_AGENT_OUT;
if (out) {
  const session = new Session();
  session.connect();
  await startAllocationSampling(session, 4096);
  process.on('SIGUSR2', () => {
    void session.post('HeapProfiler.stopSampling').then(({ profile }) => {
      writeFileSync(out, JSON.stringify(profile));
      writeFileSync(out.replace(/(\.heapprofile)?$/, '.txt'), allocationSummary(profile));
    });
  });
}
