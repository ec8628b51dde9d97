// Server CPU per request on the durable single-request paths (issue 22, targets 1 and 5),
// measured from /proc rather than from throughput, so a loaded machine changes the figure
// much less than it changes a ramp's.
//
//   node bench/tools/request-cost.js --kind notify [--rate 2000] [--count 20000]
//        [--rounds 1] [--subscribers 2000] [--publishers 64] [--node-args="--cpu-prof"]
//        [--cli packages/server/dist/cli.js[,other/dist/cli.js]] [--signal SIGUSR2]
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
//
// With several --cli builds (an A/B), all of them run at once and each round sends --count
// to each build in turn, so a machine whose load changes by the minute loads them alike;
// each build's line sums its rounds.
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
    rounds: { type: 'string', default: '1' },
    subscribers: { type: 'string', default: '' },
    publishers: { type: 'string', default: '64' },
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
const perRequest = kind === 'alerts' || kind === 'broadcast' ? subscribers : 1;

/** User and system CPU seconds of one process, or of one of its threads. */
function cpu(pid, tid) {
  const path = tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`;
  const stat = readFileSync(path, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) / 100 + Number(f[12]) / 100;
}

/** One build under test: its server, subscribers and publisher, and its sums. */
async function open(cli, port) {
  const target = new HeraldTarget({
    root: process.cwd(),
    port,
    cli,
    nodeArgs: a['node-args'].split(' ').filter(Boolean),
  });
  const spawnedAt = performance.now();
  await target.start();
  const pool = new SubscriberPool(target.port);
  const pub = new Publisher(target.port, { connections: Number(a.publishers), maxInflight: 1 });
  await target.mintTokens(subscribers);
  const spec =
    kind === 'alerts'
      ? (i) => target.subscribeAlerts(FEED, i)
      : (i) => target.subscribe(target.userChannel(i), i);
  const c = await pool.connect(subscribers, spec);
  if (c.failed) throw new Error(`${cli}: ${c.failed} subscribers failed to connect`);
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
  return {
    cli,
    target,
    pool,
    pub,
    spawnedAt,
    send: (total) =>
      pub.run({ rate: rate > 0 ? rate : 1e9, total, make: () => make(), ackTimeoutMs: 30_000 }),
    sum: { acked: 0, errors: 0, cpu: 0, main: 0, seconds: 0, delivered: 0, p50: [], p99: [] },
    window: '',
    firstError: '',
  };
}

/** Sends `count` requests to one build and adds what they cost to its sums. */
async function measure(b) {
  const received0 = b.pool.received;
  const c0 = cpu(b.target.pid);
  const m0 = cpu(b.target.pid, b.target.pid);
  const t0 = performance.now();
  const r = await b.send(count);
  const s = (performance.now() - t0) / 1000;
  b.sum.cpu += cpu(b.target.pid) - c0;
  b.sum.main += cpu(b.target.pid, b.target.pid) - m0;
  // Deliveries arrive just after the acks; give them a moment.
  const until = Date.now() + 5000;
  while (b.pool.received - received0 < r.acked * perRequest && Date.now() < until) {
    await new Promise((res) => setTimeout(res, 20));
  }
  b.sum.acked += r.acked;
  b.sum.errors += r.errors;
  b.sum.seconds += s;
  b.sum.delivered += b.pool.received - received0;
  b.sum.p50.push(r.ack.p50);
  b.sum.p99.push(r.ack.p99);
  b.firstError ||= r.firstError;
  // For `cpuprofile-summary.js --window`: seconds since the server was started.
  const from = (t0 - b.spawnedAt) / 1000;
  b.window ||= [from, from + s].map((x) => x.toFixed(1)).join(',');
}

const builds = [];
try {
  for (const [j, cli] of a.cli.split(',').entries()) {
    builds.push(await open(cli, Number(a.port) + j));
  }
  for (const b of builds) {
    const warm = await b.send(Math.max(1, Math.round(count / 4)));
    if (warm.errors) throw new Error(`${b.cli} warm-up: ${warm.errors}, ${warm.firstError}`);
  }
  for (let round = 0; round < Number(a.rounds); round++) {
    for (const b of round % 2 === 0 ? builds : [...builds].reverse()) await measure(b);
  }
  for (const b of builds) {
    const { sum } = b;
    const us = (sec) => Math.round((sec * 1e7) / sum.acked) / 10;
    console.log(
      JSON.stringify({
        cli: b.cli,
        kind,
        rate: rate || 'max',
        requests: sum.acked,
        errors: sum.errors,
        achieved: Math.round(sum.acked / sum.seconds),
        cpuUsPerRequest: us(sum.cpu),
        mainThreadUsPerRequest: us(sum.main),
        coreAt2000: Math.round((us(sum.cpu) * 2000) / 1e4) / 100,
        cpuShare: Math.round((sum.cpu / sum.seconds) * 100) / 100,
        ackP50: sum.p50.map((x) => Math.round(x * 10) / 10),
        ackP99: sum.p99.map((x) => Math.round(x * 10) / 10),
        delivered: sum.delivered,
        expected: sum.acked * perRequest,
        firstError: b.firstError || undefined,
        window: b.window,
      }),
    );
  }
  // A profiler preloaded into the server (--node-args="--require ...") may write on a signal.
  if (a.signal) {
    for (const b of builds) process.kill(b.target.pid, a.signal);
    await new Promise((res) => setTimeout(res, 3000));
  }
} finally {
  for (const b of builds) {
    b.pub.close();
    await b.pool.closeAll();
    await b.target.stop();
    b.target.cleanup();
  }
}
