// Loaded into a server under measurement (`node --import <this file> …`, e.g. through
// request-cost.js --node-args="--import ./bench/tools/alloc-agent.js" --signal SIGUSR2): from
// start-up on, V8's sampling heap profiler records allocations, those already collected
// included (what the garbage collector pays for, not only what stays). On SIGUSR2 it writes
// the profile to $ALLOC_AGENT_OUT (a .heapprofile, readable by Chrome's DevTools) and, beside
// it, a .txt with the bytes allocated per function, largest first. Nothing else changes in
// the server.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const out = process.env.ALLOC_AGENT_OUT;
if (out) {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  process.on('SIGUSR2', () => {
    void session.post('HeapProfiler.stopSampling').then(({ profile }) => {
      writeFileSync(out, JSON.stringify(profile));
      writeFileSync(out.replace(/(\.heapprofile)?$/, '.txt'), summary(profile));
    });
  });
}

/** Bytes per function (self), and in all, as text. */
function summary(profile) {
  const byFunction = new Map();
  let total = 0;
  const walk = (node) => {
    const f = node.callFrame;
    const where = f.url
      ? `${f.url.replace(/^.*\/(node_modules|packages)\//, '')}:${f.lineNumber + 1}`
      : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`;
    const bytes = node.selfSize;
    total += bytes;
    if (bytes > 0) byFunction.set(key, (byFunction.get(key) ?? 0) + bytes);
    for (const c of node.children) walk(c);
  };
  walk(profile.head);
  const lines = [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 60)
    .map(
      ([k, v]) =>
        `${(v / 1024).toFixed(0).padStart(10)} KiB  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`,
    );
  return `${(total / 1024).toFixed(0)} KiB allocated in all (sampled)\n${lines.join('\n')}\n`;
}
