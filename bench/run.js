// Herald load benchmark: Herald, a plain Node floor and nginx+nchan in turn, same scenarios,
// same 100-byte payloads, server pinned to core 0 and this load generator to core 1.
//
//   npm run bench                 full run (about 15 minutes on 2 cores)
//   npm run bench -- --quick      about two minutes, smaller N and shorter steps
//   npm run bench -- --only herald --scenarios fanout --herald-node-args="--cpu-prof"
//   npm run bench -- --quick --scenarios fanout --js-reader   fan-out read by Node, to compare
//
// See docs/performance.md for the method and the latest figures.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildNativeReader } from './lib/native-pool.js';
import { latencyPlot } from './lib/plot.js';
import * as report from './lib/report.js';
import * as scenarios from './lib/scenarios.js';
import { HeraldClusterTarget } from './lib/herald-cluster.js';
import { tokens as tokensScenario } from './lib/tokens.js';
import {
  HeraldTarget,
  NchanTarget,
  NodeFloorTarget,
  killChildren,
  runCleanups,
} from './lib/targets.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string', default: 'herald,floor,nchan' },
    scenarios: { type: 'string', default: '' },
    'herald-cli': { type: 'string', default: 'packages/server/dist/cli.js' },
    'herald-node-args': { type: 'string', default: '' },
    'herald-ephemeral': { type: 'boolean', default: false },
    'herald-workers': { type: 'string', default: '1' },
    'cluster-database-url': {
      type: 'string',
      default: process.env.HERALD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    'cluster-redis-url': { type: 'string', default: process.env.HERALD_BENCH_REDIS_URL ?? '' },
    label: { type: 'string', default: '' },
    save: { type: 'boolean', default: true },
    'no-save': { type: 'boolean', default: false },
    set: { type: 'string', multiple: true, default: [] },
    nice: { type: 'string', default: '0' },
    'js-reader': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(`usage: node bench/run.js [--quick] [--only herald,floor,nchan] [--scenarios fanout,users,inbox,alerts,storm,hold,cluster,tokens]
       [--herald-cli path] [--herald-node-args "--cpu-prof ..."] [--herald-ephemeral]
       [--herald-workers 1,2]
       [--cluster-database-url URL] [--cluster-redis-url URL]
       [--label name] [--no-save] [--set key=value ...] [--nice N] [--js-reader]
scenarios: fanout (memory on one channel + fan-out ramp), users (idle memory on user channels,
           targeted fixed rate, targeted ramp), inbox (64 publishers: notify at 2,000/s, notify
           ramp, /broadcast to 10,000 users, single-event /publish ramp), alerts (seed 003's
           POST /notifications to a feed read by alert streams), storm (Herald and nchan: reconnect storm; Herald restarts first),
           hold (Herald: 20,000 connections; full run only unless named),
           cluster (Herald: 3 nodes + Redis + PostgreSQL, targeted and fan-out ramps; full run
           only unless named), tokens (Herald: AI answers on ai: channels: tokens/s per stream,
           p99 per token with many streams, reconnect catch-up)
--cluster-database-url  PostgreSQL for the cluster (default postgres://postgres@127.0.0.1:5432/test,
                        or HERALD_BENCH_DATABASE_URL); the run uses a schema of its own and drops it
--cluster-redis-url     a Redis to use, with a key prefix of the run's own (default: a private
                        redis-server started by the bench and pinned with the nodes)
--herald-workers  run the Herald scenarios once per count (herald serve --workers N), side by
                  side; the first count is the one the headline table and verdicts use
--js-reader  fan-out subscribers read by the Node pool in this process instead of the native
             epoll reader (bench/native/sse-reader.c, built into bench/.work/ with gcc)
--set overrides a parameter, e.g. --set fanoutN=3000 --set stepSeconds=4`);
  process.exit(0);
}

const quick = args.quick;
/** Scenario parameters; every one can be overridden with --set key=value. */
const p = quick
  ? {
      usersN: 2000,
      fanoutN: 2000,
      stepSeconds: 2,
      drainMs: 2000,
      settleMs: 1000,
      connectConcurrency: 500,
      fanoutStartDeliveries: 10_000,
      fanoutFactor: 1.6,
      fanoutMaxSteps: 9,
      fanoutP99Ms: 100,
      targetedRate: 2000,
      targetedSeconds: 3,
      targetedWarmSeconds: 1,
      targetedRampStart: 5000,
      targetedFactor: 1.7,
      targetedMaxSteps: 3,
      // Quick: the durable target's rate for 5 s (its ramp ends below it, at 14,450).
      sustainedRate: 20_000,
      sustainedSeconds: 5,
      batch: 50,
      stormN: 1000,
      stormConcurrency: 1000,
      stormTimeoutMs: 30_000,
      // 1: Herald restarts between going away and the storm (replay from its store only).
      stormRestart: 1,
      holdN: 20_000,
      retries: 0,
      quietWaitMs: 1500,
      clusterNodes: 3,
      clusterUsersN: 1500,
      clusterBatch: 50,
      clusterRampStart: 1250,
      clusterFactor: 2,
      clusterMaxSteps: 4,
      clusterFanoutN: 1500,
      clusterFanoutStartDeliveries: 10_000,
      clusterFanoutFactor: 1.6,
      clusterFanoutMaxSteps: 5,
      tokensThroughputN: 20000,
      tokensStreams: 100,
      tokensRate: 50,
      tokensSeconds: 3,
      tokensReconnectBuffered: 2000,
      inboxPublishers: 64,
      inboxRampStart: 2930,
      singlesRampStart: 4883,
      inboxFactor: 1.6,
      inboxMaxSteps: 5,
      alertsN: 50,
    }
  : {
      usersN: 10_000,
      fanoutN: 5000,
      stepSeconds: 6,
      drainMs: 4000,
      settleMs: 3000,
      connectConcurrency: 500,
      fanoutStartDeliveries: 5000,
      fanoutFactor: 1.4,
      fanoutMaxSteps: 14,
      fanoutP99Ms: 100,
      targetedRate: 2000,
      targetedSeconds: 10,
      targetedWarmSeconds: 3,
      targetedRampStart: 2000,
      targetedFactor: 1.5,
      targetedMaxSteps: 8,
      // The durable target's own rate, held (after the ramp): its verdict.
      sustainedRate: 20_000,
      sustainedSeconds: 30,
      batch: 50,
      stormN: 10_000,
      stormConcurrency: 10_000,
      stormTimeoutMs: 120_000,
      // 1: Herald restarts between going away and the storm (replay from its store only).
      stormRestart: 1,
      holdN: 20_000,
      retries: 1,
      quietWaitMs: 10_000,
      clusterNodes: 3,
      clusterUsersN: 6000,
      clusterBatch: 50,
      // x sqrt(2) from 1,250: one step lands on the seed claim's 5,000 events/s exactly.
      clusterRampStart: 1250,
      clusterFactor: Math.SQRT2,
      clusterMaxSteps: 8,
      clusterFanoutN: 3000,
      clusterFanoutStartDeliveries: 5000,
      clusterFanoutFactor: 1.4,
      clusterFanoutMaxSteps: 10,
      tokensThroughputN: 100000,
      tokensStreams: 1000,
      tokensRate: 50,
      tokensSeconds: 10,
      tokensReconnectBuffered: 2000,
      inboxPublishers: 64,
      // x 1.6 from these, the targets are steps: 12,000 notifies/s (4th) and 20,000 single
      // publishes/s (4th).
      inboxRampStart: 2930,
      singlesRampStart: 4883,
      inboxFactor: 1.6,
      inboxMaxSteps: 5,
      alertsN: 200,
    };
for (const kv of args.set) {
  const [k, v] = kv.split('=');
  if (!(k in p)) throw new Error(`unknown parameter ${k}; known: ${Object.keys(p).join(', ')}`);
  p[k] = Number(v);
}
if (p.usersN % p.batch !== 0 || p.stormN % p.batch !== 0)
  throw new Error('usersN and stormN must be multiples of batch');
if (p.clusterUsersN % p.clusterBatch !== 0)
  throw new Error('clusterUsersN must be a multiple of clusterBatch');

const wanted = args.scenarios
  ? args.scenarios.split(',')
  : ['fanout', 'users', 'inbox', 'alerts', 'storm', ...(quick ? [] : ['hold', 'cluster'])];
const only = args.only.split(',');

// --nice=-10 (as root) gives the generator, and the servers it starts (they inherit it), a
// higher priority than other work on a shared machine; recorded in the results. With
// autogroup scheduling (one CPU share per session, whatever the nice values inside), the
// bench moves into a session of its own and sets that session's nice level instead; that
// touches no process but the bench's.
const niceness = Number(args.nice);
if (niceness !== 0) {
  const autogroup = readText('/proc/sys/kernel/sched_autogroup_enabled').trim() === '1';
  const stat = readText('/proc/self/stat');
  const sessionId = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  if (autogroup && sessionId !== process.pid) {
    const child = spawn(
      'setsid',
      [
        '-w',
        process.execPath,
        ...process.execArgv,
        fileURLToPath(import.meta.url),
        ...process.argv.slice(2),
      ],
      { stdio: 'inherit' },
    );
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
    await new Promise(() => {}); // the child does the work
  }
  try {
    if (autogroup) writeFileSync('/proc/self/autogroup', String(niceness));
    execFileSync('renice', ['-n', String(niceness), '-p', String(process.pid)], {
      stdio: 'ignore',
    });
  } catch (err) {
    console.warn(`bench: could not raise priority: ${String(err)}`);
  }
}

// ---- safety: every run ends by itself and takes its children with it ----
const started = Date.now();
const maxMinutes = quick ? 8 : 60;
// Servers are killed at once; then the clean-ups outside our processes (a cluster run's
// PostgreSQL schema) get a few seconds.
const stopAll = async (code) => {
  killChildren();
  await runCleanups(8000);
  process.exit(code);
};
const watchdog = setTimeout(() => {
  console.error(`\nbench: watchdog: still running after ${maxMinutes} minutes; stopping`);
  void stopAll(3);
}, maxMinutes * 60_000);
watchdog.unref();
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}: stopping servers`);
    void stopAll(130);
  });
}

const clock = () => {
  const s = Math.floor((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const logFor = (name) => (msg) => console.log(`[${clock()}] [${name}] ${msg}`);

// ---- pinning: servers on core 0 (see targets.js), this process and its children on core 1 ----
let pinned = false;
try {
  execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  pinned = true;
} catch {
  console.warn('bench: taskset failed; the load generator is not pinned');
}
function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = /** @type {net.AddressInfo} */ (s.address()).port;
      s.close(() => res(port));
    });
  });
}

// Fan-out and targeted subscribers are read by the native epoll reader. In Node, one message
// to 5,000 subscribers is 5,000 reads of 10-13 us of generator CPU each, as long as the server
// takes to write them, so the last subscriber's latency would measure the slower of the two;
// and 10,000 streams in the generator's heap give it young-generation pauses of 5-20 ms and
// mark-compacts of 20-30 ms, which land in the targeted p99 of every target alike. Without
// gcc, or with --js-reader, the Node pool reads them.
const readerScenarios = ['fanout', 'users', 'inbox', 'alerts'];
let reader = { kind: 'js', why: '--js-reader' };
if (wanted.some((s) => readerScenarios.includes(s)) && !args['js-reader']) {
  try {
    reader = { kind: 'native', binary: buildNativeReader() };
  } catch (err) {
    const why = String(err.stderr ?? err.message ?? err)
      .trim()
      .split('\n')[0];
    reader = { kind: 'js', why: `native reader not built: ${why}` };
    console.warn(`bench: ${reader.why}; subscribers fall back to the JS reader`);
  }
}

const info = {
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  label: args.label || undefined,
  machine: report.machine(),
  code: report.codeState(root),
  pinning: pinned ? 'server on core 0, load generator on core 1 (taskset)' : 'not pinned',
  niceness,
  loadAverageAtStart: report.loadAverage(),
  heraldNodeArgs: args['herald-node-args'] || undefined,
  heraldDurable: !args['herald-ephemeral'],
  subscriberReader: wanted.some((s) => readerScenarios.includes(s))
    ? reader.kind === 'native'
      ? 'native epoll reader (bench/native/sse-reader.c)'
      : `JS SubscriberPool in the generator (${reader.why})`
    : undefined,
  params: p,
};

console.log(
  `Herald bench (${info.mode}) on ${info.machine.description}; node ${info.machine.node}, nginx ${info.machine.nginx}, nchan ${info.machine.nchan}`,
);
console.log(
  `load average at start: ${info.loadAverageAtStart.join(' ')} (other work on this machine makes figures noisy)`,
);
if (info.subscriberReader)
  console.log(`fan-out and targeted subscribers read by: ${info.subscriberReader}`);
if (info.code.distOlderThanSources)
  console.log(
    'note: packages/server/dist is older than its sources; run `npm run build` for current code',
  );

/** `--herald-workers 1,2`: Herald once per count; results of a count past the first are
 * kept as `herald-<N>w`. */
const heraldWorkers = args['herald-workers'].split(',').map(Number);
if (heraldWorkers.some((n) => !Number.isInteger(n) || n < 1)) {
  throw new Error('--herald-workers takes counts of at least 1, e.g. 1,2');
}
const heraldKey = (workers, i) => (i === 0 ? 'herald' : `herald-${workers}w`);

const makeTarget = async (name, workers = 1) => {
  const port = await freePort();
  if (name === 'herald') {
    const t = new HeraldTarget({
      root,
      port,
      cli: resolve(root, args['herald-cli']),
      nodeArgs: args['herald-node-args'].split(' ').filter(Boolean),
      workers,
    });
    t.durable = !args['herald-ephemeral'];
    return t;
  }
  if (name === 'floor') return new NodeFloorTarget({ root, port });
  if (name === 'nchan') return new NchanTarget({ root, port });
  throw new Error(`unknown target ${name}`);
};

const results = {};
let failed = false;
const runs = ['herald', 'floor', 'nchan']
  .filter((n) => only.includes(n))
  .flatMap((name) =>
    name === 'herald'
      ? heraldWorkers.map((workers, i) => ({ name, key: heraldKey(workers, i), workers }))
      : [{ name, key: name, workers: 1 }],
  );
for (const { name, key, workers } of runs) {
  const target = await makeTarget(name, workers);
  const log = logFor(key);
  const r = (results[key] = {});
  const run = async (scenario, fn) => {
    if (!wanted.includes(scenario)) return;
    try {
      r[scenario] = await fn(target, p, log);
    } catch (err) {
      failed = true;
      log(`${scenario} failed: ${err instanceof Error ? err.stack : String(err)}`);
      r[scenario] = { error: String(err) };
      await target.stop().catch(() => {});
      target.cleanup();
    }
  };
  await run('fanout', (t, params, l) => scenarios.fanout(t, params, l, reader));
  await run('users', (t, params, l) => scenarios.users(t, params, l, reader));
  await run('inbox', (t, params, l) => scenarios.inbox(t, params, l, reader));
  await run('alerts', (t, params, l) => scenarios.alerts(t, params, l, reader));
  if (name !== 'floor') await run('storm', scenarios.storm);
  if (key === 'herald') {
    await run('hold', scenarios.hold);
    await run('tokens', tokensScenario);
    if (wanted.includes('cluster')) {
      const ports = [];
      for (let i = 0; i < p.clusterNodes; i++) ports.push(await freePort());
      const cluster = new HeraldClusterTarget({
        root,
        cli: resolve(root, args['herald-cli']),
        ports,
        redisPort: await freePort(),
        databaseUrl: args['cluster-database-url'],
        redisUrl: args['cluster-redis-url'],
        nodeArgs: args['herald-node-args'].split(' ').filter(Boolean),
      });
      cluster.durable = !args['herald-ephemeral'];
      await run('cluster', (_single, params) =>
        scenarios.cluster(cluster, params, logFor('herald-cluster')),
      );
    }
  }
}
info.loadAverageAtEnd = report.loadAverage();
info.seconds = Math.round((Date.now() - started) / 1000);

const rows = report.headline(results, p);
console.log(
  `\nResults (${info.mode}, ${info.seconds}s; load average at end ${info.loadAverageAtEnd.join(' ')}):\n`,
);
console.log(report.consoleTable(rows));
if (heraldWorkers.length > 1) {
  console.log(`\nHerald by worker count (--herald-workers ${heraldWorkers.join(',')}):\n`);
  console.log(report.workersTable(results, heraldWorkers.map(heraldKey), heraldWorkers));
}

if (args.save && !args['no-save']) {
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = info.date.slice(0, 16).replace(/:/g, '-');
  const base = join(dir, `${stamp}-${info.mode}${args.label ? '-' + args.label : ''}`);
  writeFileSync(
    `${base}.json`,
    JSON.stringify({ ...info, headline: rows, results }, null, 2) + '\n',
  );
  const md = [
    `# Bench run ${info.date} (${info.mode}${args.label ? ', ' + args.label : ''})`,
    '',
    `- Machine: ${info.machine.description}; Node ${info.machine.node}; nginx ${info.machine.nginx}; libnginx-mod-nchan ${info.machine.nchan}`,
    `- Code: commit ${info.code.commit}${info.code.serverTreeDirty ? ' with uncommitted server changes in the working tree' : ''}${info.code.distOlderThanSources ? ' (dist older than sources)' : ''}`,
    `- Pinning: ${info.pinning}${niceness ? `; servers and generator at nice ${niceness}` : ''}. Loopback, 100-byte payloads. Herald with JWT auth${info.heraldDurable ? ' and durable (SQLite) events' : ', ephemeral events'}${info.heraldNodeArgs ? `, node ${info.heraldNodeArgs}` : ''}.${results.herald?.cluster ? ' The cluster run has its own store, broker and pinning: see its section.' : ''}`,
    ...(info.subscriberReader
      ? [`- Fan-out and targeted subscribers read by: ${info.subscriberReader}.`]
      : []),
    `- Load average at start ${info.loadAverageAtStart.join(' ')}, at end ${info.loadAverageAtEnd.join(' ')} (other work on these 2 cores makes figures noisy; compare the load average with the core count).`,
    `- Duration ${info.seconds}s. Parameters: \`${JSON.stringify(p)}\``,
    '',
    report.markdownTable(rows),
    '',
  ];
  for (const [name, r] of Object.entries(results)) {
    // Warm-up steps are unjudged (see bench/lib/scenarios.js) but shown, before what is judged.
    const warmUp = (step, unit) =>
      step ? ['Warm-up at the same rate, unjudged:', '', report.stepsTable([step], unit), ''] : [];
    if (r.fanout?.steps)
      md.push(
        `## ${name}: fan-out ramp, ${r.fanout.subscribers} subscribers`,
        '',
        ...warmUp(r.fanout.warmUp, 'msg/s'),
        'Ramp:',
        '',
        report.stepsTable(r.fanout.steps, 'msg/s'),
        '',
      );
    if (r.users?.steps) {
      md.push(
        `## ${name}: targeted, ${r.users.subscribers} user channels`,
        '',
        ...warmUp(r.users.fixedWarmUp, 'events/s'),
        'Fixed rate, single-event publishes:',
        '',
        report.stepsTable([r.users.fixed], 'events/s'),
        '',
      );
      md.push(
        `Ramp, batches of ${r.users.batch}:`,
        '',
        report.stepsTable(r.users.steps, 'events/s'),
        '',
      );
    }
    if (r.inbox?.notify) {
      md.push(
        `## ${name}: inbox, ${r.inbox.subscribers} user channels, ${r.inbox.publishers} publishers with one request in flight each`,
        '',
        'POST /notify at 2,000/s (after an unjudged second at that rate):',
        '',
        report.stepsTable([r.inbox.fixed], 'req/s'),
        '',
        'POST /notify ramp (p99 <= 20 ms):',
        '',
        report.stepsTable(r.inbox.notify.steps, 'req/s'),
        '',
        ...(r.inbox.broadcast
          ? [
              '/broadcast to 10,000 listed users:',
              '',
              report.stepsTable([r.inbox.broadcast], 'deliveries/request'),
              '',
            ]
          : []),
        'Single-event /publish ramp (p99 <= 20 ms):',
        '',
        report.stepsTable(r.inbox.singles.steps, 'req/s'),
        '',
      );
    }
    if (r.alerts?.steps)
      md.push(
        `## ${name}: alerts, ${r.alerts.subscribers} alert streams on one feed`,
        '',
        report.stepsTable(r.alerts.steps, 'req/s'),
        '',
      );
    for (const s of ['fanout', 'users', 'inbox', 'alerts', 'storm', 'hold', 'cluster', 'tokens']) {
      if (r[s]?.error) md.push(`- ${name} ${s}: error ${r[s].error}`, '');
    }
  }
  for (const name of ['herald', 'nchan'])
    if (results[name]?.storm && !results[name].storm.error)
      md.push(
        `## ${name}: reconnect storm`,
        '',
        '```json',
        JSON.stringify(results[name].storm, null, 2),
        '```',
        '',
      );
  if (results.herald?.tokens && !results.herald.tokens.error)
    md.push(
      '## herald: token streams',
      '',
      '```json',
      JSON.stringify(results.herald.tokens, null, 2),
      '```',
      '',
    );
  if (results.herald?.hold && !results.herald.hold.error)
    md.push(
      '## herald: hold',
      '',
      '```json',
      JSON.stringify(results.herald.hold, null, 2),
      '```',
      '',
    );
  if (results.herald?.cluster && !results.herald.cluster.error)
    md.push(report.clusterMarkdown(results.herald.cluster), '');
  writeFileSync(`${base}.md`, md.join('\n'));
  const title = `${info.date} (${info.mode}), commit ${info.code.commit}: ${info.machine.description}`;
  writeFileSync(`${base}.svg`, latencyPlot(results, title));
  console.log(`\nsaved ${base.slice(root.length + 1)}.{json,md,svg}`);
}
clearTimeout(watchdog);
process.exit(failed ? 1 : 0);
