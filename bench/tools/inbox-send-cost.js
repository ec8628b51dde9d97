// CPU per `InboxService.send` in process (no HTTP), on a fresh SQLite data dir: the cost of
// the inbox path itself, sends one at a time (each its own group) or --concurrency at once
// (one group of that many per turn). With --profile FILE, writes a V8 CPU profile of the
// measured sends; with --alloc FILE, a sampling heap profile of their allocations (collected
// ones included) and, beside it, FILE.txt: the bytes per function.
//
//   node bench/tools/inbox-send-cost.js [--dist packages/server/dist] [--sends 4000]
//        [--concurrency 1] [--users 2000] [--streams 0] [--profile out.cpuprofile]
//        [--alloc out.heapprofile]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { allocationSummary, startAllocationSampling } from '../lib/alloc-summary.js';

const { values: a } = parseArgs({
  options: {
    dist: { type: 'string', default: 'packages/server/dist' },
    sends: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '1' },
    users: { type: 'string', default: '2000' },
    profile: { type: 'string', default: '' },
    alloc: { type: 'string', default: '' },
  },
});
const dist = pathToFileURL(resolve(a.dist)).href;
const { loadConfig } = await import(`${dist}/config.js`);
const { createServer } = await import(`${dist}/server.js`);
const dataDir = mkdtempSync(join(tmpdir(), 'herald-send-cost-'));
const config = loadConfig({
  env: {},
  argv: [
    '--data-dir',
    dataDir,
    '--api-keys',
    'bench-api-key-0123456789abcdef',
    '--log-level',
    'warn',
  ],
});
const server = await createServer(config);
const inbox = server.inbox;
const users = Number(a.users);
const concurrency = Number(a.concurrency);
let k = 0;
const sendOne = () => {
  const i = k++;
  return inbox.send(
    [`user:${i % users}`],
    { title: 'bench', body: 'bench notification', data: `{"s":${i},"p":"xxxxxxxxxxxxxxxxxxxx"}` },
    { durable: true, eventType: 'notification' },
  );
};
const run = async (n) => {
  for (let done = 0; done < n; done += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, n - done) }, sendOne));
  }
};
const sends = Number(a.sends);
await run(Math.round(sends / 2));
const session = new Session();
if (a.profile) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
if (a.alloc) {
  if (!a.profile) session.connect();
  await startAllocationSampling(session, 1024);
}
const c0 = process.cpuUsage();
await run(sends);
const c = process.cpuUsage(c0);
if (a.alloc) {
  const { profile } = await session.post('HeapProfiler.stopSampling');
  writeFileSync(a.alloc, JSON.stringify(profile));
  writeFileSync(`${a.alloc}.txt`, allocationSummary(profile));
}
if (a.profile) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(a.profile, JSON.stringify(profile));
}
console.log(
  JSON.stringify({
    dist: a.dist,
    concurrency,
    sends,
    cpuUsPerSend: Math.round(((c.user + c.system) / sends) * 10) / 10,
  }),
);
await server.close();
rmSync(dataDir, { recursive: true, force: true });
