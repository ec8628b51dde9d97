// Server CPU per request on the durable single-request paths (issue 22, targets 1 and 5),
// measured from /proc rather than from throughput, so a loaded machine changes the figure
// much less than it changes a ramp's.
//
//   node bench/tools/request-cost.js --kind notify [--rate 2000] [--count 20000]
//        [--subscribers 2000] [--publishers 64] [--runs 1] [--node-args="--cpu-prof"]
//        [--cli packages/server/dist/cli.js] [--signal SIGUSR2]
//
// Kinds: `publish` (one durable event to a user channel per `POST /publish`), `notify`
// (`POST /notify/{user}`), `alerts` (`POST /notifications` to a shared feed read by alert
// streams), `broadcast` (`POST /broadcast` to 10,000 listed users, --count is requests).
// Starts the built server pinned to core 0 with an API key and a fresh SQLite data dir (as
// the bench does), connects the subscribers (user streams, or alert streams for `alerts`),
// warms up with a quarter of --count, then sends --count requests from --publishers
// keep-alive connections with one request in flight each, at --rate per second (0: as fast
// as the answers come back). Prints the server's CPU (all threads, and the main thread
// alone) per request, the ack latency, and the deliveries the subscribers counted.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Publisher } from '../lib/publisher.js';
import { clockMs } from '../lib/stats.js';
import { SubscriberPool } from '../lib/subscribers.js';
import { HeraldTarget, payload } from '../lib/targets.js';

const { values: a } = parseArgs({
  options: {
    kind: { type: 'string', default: 'notify' },
    rate: { type: 'string', default: '0' },
    count: { type: 'string', default: '20000' },
    subscribers: { type: 'string', default: '' },
    publishers: { type: 'string', default: '64' },
    runs: { type: 'string', default: '1' },
    port: { type: 'string', default: '19321' },
    cli: { type: 'string', default: 'packages/server/dist/cli.js' },
    'node-args': { type: 'string', default: '' },
    signal: { type: 'string', default: '' },
  },
});
const kind = a.kind;
const rate = Number(a.rate);
const count = Number(a.count);
const subscribers = Number(a.subscribers || (kind === 'alerts' ? 200 : 2000));
const FEED = 'bench:alerts';

/** User and system CPU seconds of one process, or of one of its threads. */
function cpu(pid, tid) {
  const path = tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`;
  const stat = readFileSync(path, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}

const target = new HeraldTarget({
  root: process.cwd(),
  port: Number(a.port),
  cli: a.cli,
  nodeArgs: a['node-args'].split(' ').filter(Boolean),
});
const spawnedAt = performance.now();
await target.start();
const pool = new SubscriberPool(target.port);
const pub = new Publisher(target.port, {
  connections: Number(a.publishers),
  maxInflight: 1,
});
try {
  await target.mintTokens(subscribers);
  const spec =
    kind === 'alerts'
      ? (i) => target.subscribeAlerts(FEED, i)
      : (i) => target.subscribe(target.userChannel(i), i);
  const c = await pool.connect(subscribers, spec);
  if (c.failed) throw new Error(`${c.failed} subscribers failed to connect`);

  let m = 0;
  const users = Array.from({ length: 10_000 }, (_, i) => i);
  const make = () => {
    const e = m++;
    const data = payload(Math.floor(e / subscribers), clockMs());
    if (kind === 'publish') return target.publish([target.userChannel(e % subscribers)], data);
    if (kind === 'notify') return target.notify(e % subscribers, data);
    if (kind === 'alerts') return target.alert(FEED, data);
    if (kind === 'broadcast') return target.broadcast(users, data);
    throw new Error(`unknown --kind ${kind}`);
  };
  const perRequest = kind === 'alerts' ? subscribers : kind === 'broadcast' ? subscribers : 1;
  const send = (total) =>
    pub.run({ rate: rate > 0 ? rate : 1e9, total, make: () => make(), ackTimeoutMs: 30_000 });

  const warm = await send(Math.max(1, Math.round(count / 4)));
  if (warm.errors) throw new Error(`warm-up: ${warm.errors} errors, first ${warm.firstError}`);
  for (let run = 0; run < Number(a.runs); run++) {
    const received0 = pool.received;
    const c0 = cpu(target.pid);
    const m0 = cpu(target.pid, target.pid);
    const t0 = performance.now();
    const r = await send(count);
    const s = (performance.now() - t0) / 1000;
    const c1 = cpu(target.pid);
    const m1 = cpu(target.pid, target.pid);
    // Deliveries arrive just after the acks; give them a moment.
    const until = Date.now() + 5000;
    const expected = r.acked * perRequest;
    while (pool.received - received0 < expected && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const us = (x0, x1) => ((x1.user + x1.sys - x0.user - x0.sys) * 1e6) / r.acked;
    const line = {
      kind,
      rate: rate || 'max',
      requests: r.acked,
      errors: r.errors,
      achieved: Math.round(r.acked / s),
      cpuUsPerRequest: Math.round(us(c0, c1) * 10) / 10,
      mainThreadUsPerRequest: Math.round(us(m0, m1) * 10) / 10,
      userSys: [
        Math.round(((c1.user - c0.user) / s) * 100),
        Math.round(((c1.sys - c0.sys) / s) * 100),
      ],
      coreAt2000: Math.round((us(c0, c1) * 2000) / 1e4) / 100,
      ackP50: r.ack.p50,
      ackP99: r.ack.p99,
      delivered: pool.received - received0,
      expected,
      firstError: r.firstError || undefined,
      // For `cpuprofile-summary.js --window`: seconds since the server was started.
      window: [(t0 - spawnedAt) / 1000, (t0 - spawnedAt) / 1000 + s]
        .map((x) => x.toFixed(1))
        .join(','),
    };
    console.log(JSON.stringify(line));
  }
  // A profiler preloaded into the server (--node-args="--require ...") may write on a signal.
  if (a.signal) {
    process.kill(target.pid, a.signal);
    await new Promise((res) => setTimeout(res, 3000));
  }
} finally {
  pub.close();
  await pool.closeAll();
  await target.stop();
  target.cleanup();
}
