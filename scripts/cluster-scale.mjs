// The largest Herald cluster one machine holds: starts N nodes on PostgreSQL and Redis,
// opens streams to them from several load-generator processes, publishes broadcast and
// targeted durable events at fixed rates, and reports memory per stream, connection rate,
// delivery latency and loss. The figures in docs/scaling.md come from this script.
//
//   npm run build
//   node scripts/cluster-scale.mjs --nodes 3 --conns-per-node 20000 --seconds 30
//
// Options (all optional): --nodes 3 --conns-per-node 20000 --generators 4
//   --broadcast-rate 1 (events/s to "broadcast", which every stream reads)
//   --targeted-rate 200 (events/s, each to one random stream's user channel)
//   --seconds 30 (publishing phase) --connect-concurrency 400
//   --cpu-prof-dir DIR (write a CPU profile of every node there, at exit)
// Uses the machine's PostgreSQL and Redis (HERALD_TEST_DATABASE_URL, HERALD_TEST_REDIS_URL;
// defaults postgres://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379) with a
// schema and a channel prefix of its own, removed at the end. `ulimit -n` caps the streams
// of each process (node or generator): raise it first, or use more nodes and generators.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/server/dist/cli.js');
const script = fileURLToPath(import.meta.url);

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) out[a.slice(2)] = true;
      else out[a.slice(2)] = (i++, next);
    }
  }
  return out;
}

/** HS256 JWT without a library: the generator mints tens of thousands. */
function jwt(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------------------------------
// Generator process: opens its share of streams and records delivery latencies.

async function worker() {
  const { secret, targets, first, count, concurrency, localAddress } = JSON.parse(
    process.env.SCALE_WORKER,
  );
  const exp = Math.floor(Date.now() / 1000) + 3600;
  let opened = 0;
  let failed = 0;
  let closed = 0;
  const latencies = { b: [], t: [] };
  const sockets = [];

  const open = (i) =>
    new Promise((done) => {
      const target = targets[i % targets.length];
      const token = jwt(secret, { sub: `s${i}`, exp });
      const sock = connect({ port: target, host: '127.0.0.1', localAddress });
      let head = true;
      let buf = '';
      let settled = false;
      const settle = (ok) => {
        if (settled) return;
        settled = true;
        if (ok) opened++;
        else failed++;
        done();
      };
      sock.setEncoding('utf8');
      sock.on('connect', () =>
        sock.write(
          `GET /events?channels=broadcast,user:s${i}&token=${token} HTTP/1.1\r\nHost: herald\r\nAccept: text/event-stream\r\n\r\n`,
        ),
      );
      sock.on('data', (chunk) => {
        buf += chunk;
        if (head) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!buf.startsWith('HTTP/1.1 200')) {
            settle(false);
            sock.destroy();
            return;
          }
          head = false;
          buf = buf.slice(end + 4);
        }
        for (;;) {
          const end = buf.indexOf('\n\n');
          if (end < 0) break;
          const ev = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (ev.includes('event: connected')) settle(true);
          const at = ev.indexOf('data: {"t":');
          if (at >= 0) {
            const line = ev.slice(
              at + 6,
              ev.indexOf('\n', at) < 0 ? undefined : ev.indexOf('\n', at),
            );
            const d = JSON.parse(line);
            latencies[d.k].push(Date.now() - d.t);
          }
        }
      });
      sock.on('error', () => settle(false));
      sock.on('close', () => {
        if (settled && !head) closed++;
        settle(false);
      });
      sockets.push(sock);
    });

  let next = first;
  const end = first + count;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < end) await open(next++);
    }),
  );
  process.send({ type: 'opened', opened, failed, ms: Date.now() - t0 });
  process.on('message', (m) => {
    if (m.type === 'report') {
      process.send({ type: 'report', latencies, closed });
      latencies.b = [];
      latencies.t = [];
    } else if (m.type === 'exit') {
      for (const s of sockets) s.destroy();
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Coordinator

function freePort() {
  return new Promise((done) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

function get(url) {
  return new Promise((done) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => done({ status: res.statusCode, body }));
    });
    req.on('error', () => done({ status: 0, body: '' }));
    req.end();
  });
}

/** RSS (KiB) and CPU time (ms) of a process, from /proc. */
function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssKiB: rss, cpuMs: (ticks * 1000) / 100 };
}

/** One durable publish; resolves with its latency in ms, or -1 on failure. */
function publishOnce(port, apiKey, channel, data, agent) {
  return new Promise((done) => {
    const started = Date.now();
    const req = request(
      `http://127.0.0.1:${port}/publish`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'x-herald-key': apiKey },
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 202 ? Date.now() - started : -1));
      },
    );
    req.on('error', () => done(-1));
    req.end(JSON.stringify({ channel, type: 'probe', data }));
  });
}

/** Latency of `n` publishes made one after the other (no queueing anywhere). */
async function probe(ports, apiKey, n) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const lat = [];
  for (let i = 0; i < n; i++) {
    lat.push(await publishOnce(ports[i % ports.length], apiKey, `probe:${i % 10}`, {}, agent));
  }
  agent.destroy();
  return lat.filter((l) => l >= 0).sort((x, y) => x - y);
}

/** A few figures from a node's /metrics: event-loop lag and mean store/broker latencies. */
async function nodeMetrics(port) {
  const text = (await get(`http://127.0.0.1:${port}/metrics`)).body;
  const value = (re) => Number(re.exec(text)?.[1] ?? NaN);
  const mean = (metric, op) =>
    (value(new RegExp(`^${metric}_sum\\{[^}]*op="${op}"[^}]*\\} (\\S+)`, 'm')) * 1000) /
    value(new RegExp(`^${metric}_count\\{[^}]*op="${op}"[^}]*\\} (\\S+)`, 'm'));
  return {
    lagP99: value(/^nodejs_eventloop_lag_p99_seconds (\S+)/m) * 1000,
    append: mean('herald_store_operation_seconds', 'append'),
    brokerPublish: mean('herald_broker_operation_seconds', 'publish'),
  };
}

async function main() {
  const a = args(process.argv.slice(2));
  const nodes = Number(a.nodes ?? 3);
  const perNode = Number(a['conns-per-node'] ?? 20_000);
  const generators = Number(a.generators ?? 4);
  const broadcastRate = Number(a['broadcast-rate'] ?? 1);
  const targetedRate = Number(a['targeted-rate'] ?? 200);
  const seconds = Number(a.seconds ?? 30);
  const concurrency = Number(a['connect-concurrency'] ?? 400);
  const pgUrl = process.env.HERALD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const redisUrl = process.env.HERALD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const secret = randomBytes(32).toString('hex');
  const apiKey = `scale-${randomBytes(16).toString('hex')}`;
  const schema = `herald_scale_${randomBytes(4).toString('hex')}`;
  const total = nodes * perNode;
  const dirs = [];
  const procs = [];
  const log = (m) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);

  const cleanup = async () => {
    // Nodes stop gracefully (a --cpu-prof profile is written at exit), generators at once.
    const nodeProcs = procs.slice(0, nodes).filter((p) => p.exitCode === null);
    for (const p of nodeProcs) p.kill('SIGTERM');
    await Promise.race([
      Promise.all(nodeProcs.map((p) => new Promise((r) => p.once('exit', r)))),
      new Promise((r) => setTimeout(r, 20_000)),
    ]);
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    await c.end();
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    log(
      `machine: ${execFileSync('nproc').toString().trim()} cores, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const ports = [];
    for (let i = 0; i < nodes; i++) ports.push(await freePort());
    const env = {
      ...process.env,
      NODE_ENV: 'production',
      HERALD_HOST: '127.0.0.1',
      HERALD_JWT_SECRET: secret,
      HERALD_API_KEYS: apiKey,
      HERALD_DATABASE_URL: pgUrl,
      HERALD_DATABASE_SCHEMA: schema,
      HERALD_REDIS_URL: redisUrl,
      HERALD_REDIS_PREFIX: `${schema}:`,
      HERALD_LOG_LEVEL: 'warn',
      HERALD_DRAIN_WINDOW_MS: '0',
      // One machine plays every client: lift the per-address limits meant for the internet.
      HERALD_RATE_LIMIT_CONNECT_PER_IP: '1000000',
      HERALD_RATE_LIMIT_PUBLISH_PER_IP: '1000000',
    };
    for (let i = 0; i < nodes; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'herald-scale-'));
      dirs.push(dir);
      const nodeArgs = a['cpu-prof-dir']
        ? ['--cpu-prof', `--cpu-prof-dir=${a['cpu-prof-dir']}`]
        : [];
      const p = spawn(process.execPath, [...nodeArgs, cli, 'serve'], {
        env: { ...env, HERALD_PORT: String(ports[i]), HERALD_DATA_DIR: dir },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      procs.push(p);
      // The first node runs the migrations before the others start.
      if (i === 0) await waitReady(ports[0]);
    }
    await Promise.all(ports.map(waitReady));
    const nodePids = procs.map((p) => p.pid);
    const before = nodePids.map(procStats);
    log(
      `${nodes} nodes ready; RSS ${before.map((s) => Math.round(s.rssKiB / 1024)).join(', ')} MiB`,
    );
    const idleProbe = await probe(ports, apiKey, 100);
    log(
      `one publish at a time, no streams: p50 ${percentile(idleProbe, 50)} ms, p99 ${percentile(idleProbe, 99)} ms`,
    );

    // Generators: each takes a slice of the streams and its own loopback source address, so
    // the 4-tuples never run out of local ports (28k per destination by default).
    const per = Math.ceil(total / generators);
    const gens = [];
    const t0 = Date.now();
    for (let g = 0; g < generators; g++) {
      const first = g * per;
      const count = Math.min(per, total - first);
      const p = spawn(process.execPath, [script], {
        env: {
          ...process.env,
          SCALE_WORKER: JSON.stringify({
            secret,
            targets: ports,
            first,
            count,
            concurrency: Math.ceil(concurrency / generators),
            localAddress: `127.0.0.${2 + g}`,
          }),
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      procs.push(p);
      gens.push(p);
    }
    const opened = await Promise.all(
      gens.map((p) => new Promise((done) => p.once('message', done))),
    );
    const connectMs = Date.now() - t0;
    const okStreams = opened.reduce((n, o) => n + o.opened, 0);
    const failedStreams = opened.reduce((n, o) => n + o.failed, 0);
    log(
      `${okStreams} streams open (${failedStreams} failed) in ${(connectMs / 1000).toFixed(1)} s: ${Math.round((okStreams * 1000) / connectMs)}/s`,
    );
    const counts = await Promise.all(
      ports.map(
        async (p) => JSON.parse((await get(`http://127.0.0.1:${p}/healthz`)).body).connections,
      ),
    );
    const idle = nodePids.map(procStats);
    const perStream = idle.map((s, i) => ((s.rssKiB - before[i].rssKiB) / counts[i]).toFixed(1));
    log(
      `streams per node ${counts.join(', ')}; RSS ${idle.map((s) => Math.round(s.rssKiB / 1024)).join(', ')} MiB; ${perStream.join(', ')} KiB per stream`,
    );

    const busyProbe = await probe(ports, apiKey, 100);
    log(
      `one publish at a time, ${okStreams} streams open: p50 ${percentile(busyProbe, 50)} ms, p99 ${percentile(busyProbe, 99)} ms`,
    );

    // Publishing phase: durable events, round-robin over the nodes.
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    let sentB = 0;
    let sentT = 0;
    let errors = 0;
    const pubLat = [];
    const publish = (channel, k) =>
      new Promise((done) => {
        const body = JSON.stringify({ channel, type: 'tick', data: { t: Date.now(), k } });
        const port = ports[(sentB + sentT) % ports.length];
        const started = Date.now();
        const req = request(
          `http://127.0.0.1:${port}/publish`,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'x-herald-key': apiKey },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 202) pubLat.push(Date.now() - started);
              else errors++;
              done();
            });
          },
        );
        req.on('error', () => (errors++, done()));
        req.end(body);
      });
    const cpu0 = nodePids.map(procStats);
    const gen0 = gens.map((g) => procStats(g.pid));
    const p0 = Date.now();
    const inflight = new Set();
    const fire = (p) => {
      inflight.add(p);
      void p.then(() => inflight.delete(p));
    };
    const stopAt = p0 + seconds * 1000;
    while (Date.now() < stopAt) {
      const elapsed = (Date.now() - p0) / 1000;
      while (sentB < Math.floor(elapsed * broadcastRate) + 1 && broadcastRate > 0) {
        fire(publish('broadcast', 'b'));
        sentB++;
      }
      while (sentT < Math.floor(elapsed * targetedRate) && targetedRate > 0) {
        fire(publish(`user:s${Math.floor(Math.random() * total)}`, 't'));
        sentT++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(inflight);
    const publishMs = Date.now() - p0;
    // Wait for deliveries to settle: a generator that is behind still has data in flight.
    await new Promise((r) => setTimeout(r, 3000));
    const cpu1 = nodePids.map(procStats);
    const gen1 = gens.map((g) => procStats(g.pid));
    const reports = await Promise.all(
      gens.map(
        (p) =>
          new Promise((done) => {
            p.once('message', done);
            p.send({ type: 'report' });
          }),
      ),
    );
    const b = reports.flatMap((r) => r.latencies.b).sort((x, y) => x - y);
    const t = reports.flatMap((r) => r.latencies.t).sort((x, y) => x - y);
    const closedStreams = reports.reduce((n, r) => n + r.closed, 0);
    const pl = pubLat.sort((x, y) => x - y);
    const cpu = cpu1.map((c, i) => Math.round(((c.cpuMs - cpu0[i].cpuMs) / publishMs) * 100));
    // The generators parse every delivery; on a small machine they compete with the nodes.
    const genCpu = gen1.reduce((n, c, i) => n + (c.cpuMs - gen0[i].cpuMs), 0) / publishMs;
    const expectedB = sentB * okStreams;
    log(
      `published ${sentB} broadcast + ${sentT} targeted durable events in ${(publishMs / 1000).toFixed(1)} s (${errors} errors); publish p50 ${percentile(pl, 50)} ms, p99 ${percentile(pl, 99)} ms`,
    );
    log(
      `broadcast deliveries ${b.length}/${expectedB} (${Math.round(b.length / (publishMs / 1000))}/s): p50 ${percentile(b, 50)} ms, p99 ${percentile(b, 99)} ms, max ${b.at(-1)} ms`,
    );
    log(
      `targeted deliveries ${t.length}/${sentT}: p50 ${percentile(t, 50)} ms, p99 ${percentile(t, 99)} ms, max ${t.at(-1)} ms`,
    );
    log(
      `node CPU during publishing (% of one core): ${cpu.join(', ')}; load generators together: ${Math.round(genCpu * 100)}%; streams closed: ${closedStreams}`,
    );
    for (const [i, p] of ports.entries()) {
      const m = await nodeMetrics(p);
      log(
        `node ${i + 1}: event-loop lag p99 ${m.lagP99.toFixed(1)} ms, mean store append ${m.append.toFixed(1)} ms, mean broker publish ${m.brokerPublish.toFixed(1)} ms`,
      );
    }
    log(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    for (const g of gens) g.send({ type: 'exit' });
  } finally {
    await cleanup();
  }
}

async function waitReady(port) {
  for (let i = 0; i < 600; i++) {
    if ((await get(`http://127.0.0.1:${port}/readyz`)).status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node on ${port} did not become ready`);
}

if (process.env.SCALE_WORKER) await worker();
else await main();
