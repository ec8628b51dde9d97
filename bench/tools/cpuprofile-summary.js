// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per file,
// and inclusive time of the functions named on the command line.
//
//   node bench/tools/cpuprofile-summary.js PROFILE.cpuprofile [--top 25] [--include fanOut,deliver]
//        [--window FROM,TO]   only samples between FROM and TO seconds after the profile start
// Percentages are of busy time: samples in "(idle)" are left out.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    include: { type: 'string', default: '' },
    window: { type: 'string', default: '' },
  },
});
const file = positionals[0];
if (!file) {
  console.error('usage: cpuprofile-summary.js PROFILE.cpuprofile [--top N] [--include fn1,fn2]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample weights: timeDeltas[i] is the time before sample i.
const [from, to] = values.window
  ? values.window.split(',').map((x) => Number(x) * 1e6)
  : [0, Infinity];
const selfUs = new Map();
let total = 0;
let idle = 0;
let t = 0;
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i] ?? 0;
  t += dt;
  if (t < from || t > to) return;
  if (nodes.get(id).callFrame.functionName === '(idle)') {
    idle += dt;
    return;
  }
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  total += dt;
});

const shortUrl = (u) =>
  u ? u.replace(/^.*\/node_modules\//, '~/').replace(/^.*\/(packages|bench)\//, '$1/') : '';
const label = (n) => {
  const cf = n.callFrame;
  const name = cf.functionName || '(anonymous)';
  return cf.url ? `${name} ${shortUrl(cf.url)}:${cf.lineNumber + 1}` : name;
};

const byFn = new Map();
const byFile = new Map();
for (const [id, us] of selfUs) {
  const n = nodes.get(id);
  const l = label(n);
  byFn.set(l, (byFn.get(l) ?? 0) + us);
  const f = shortUrl(n.callFrame.url) || `(${n.callFrame.functionName || 'native'})`;
  byFile.set(f, (byFile.get(f) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const top = Number(values.top);

console.log(
  `profile ${file}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle` +
    (values.window ? ` (window ${values.window} s)` : ''),
);
console.log('\nself time by function:');
for (const [l, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`  ${pct(us)}  ${l}`);
console.log('\nself time by file:');
for (const [f, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`  ${pct(us)}  ${f}`);

if (values.include) {
  // Inclusive time: a sample counts for a function if the function is on its stack.
  const names = values.include.split(',');
  const incl = new Map(names.map((n) => [n, 0]));
  for (const [id, us] of selfUs) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = nodes.get(cur).callFrame.functionName;
      if (incl.has(fn) && !seen.has(fn)) {
        seen.add(fn);
        incl.set(fn, incl.get(fn) + us);
      }
    }
  }
  console.log('\ninclusive time:');
  for (const [fn, us] of incl) console.log(`  ${pct(us)}  ${fn}`);
}
