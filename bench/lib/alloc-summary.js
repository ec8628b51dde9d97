// V8's sampling heap profiler as the bench uses it: how sampling starts (every allocation
// counted, the collected ones included), and a text summary of the profile it stops with (the
// bytes allocated per function, self, largest first, and in all). Used by
// bench/tools/alloc-agent.js and inbox-send-cost.js --alloc.

/** Starts sampling on an inspector `session`, one sample per `interval` bytes on average. */
export function startAllocationSampling(session, interval) {
  return session.post('HeapProfiler.startSampling', {
    samplingInterval: interval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

/** Bytes per function (self), and in all, as text. */
export function allocationSummary(profile, top = 60) {
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
    .slice(0, top)
    .map(
      ([k, v]) =>
        `${(v / 1024).toFixed(0).padStart(10)} KiB  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`,
    );
  return `${(total / 1024).toFixed(0)} KiB allocated in all (sampled)\n${lines.join('\n')}\n`;
}
