import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeSubscriberPool } from './native-pool.js';
import { Publisher } from './publisher.js';
import { CpuMeter, GroupCpuMeter, OthersMeter, fdCount, rssKiB, clockMs } from './stats.js';
import { SubscriberPool } from './subscribers.js';
import { children, payload } from './targets.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

/** Waits until `cond()` (which may return a promise) or `timeoutMs`; returns whether it held. */
async function waitFor(cond, timeoutMs, everyMs = 10) {
  const until = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > until) return false;
    await sleep(everyMs);
  }
  return true;
}

/** The server's processes: the one server, or every node of a cluster. */
const serverPids = (target) => target.pids ?? [target.pid];

/** Where publishers send: the one server, or every node of a cluster (round-robin). */
const publishPorts = (target) => target.publishPorts ?? target.port;

/** Processes doing the target's work besides its own (a cluster's Redis and PostgreSQL backends). */
const backendPids = async (target) => (target.backendPids ? await target.backendPids() : {});

/** Everything the bench itself runs or drives: left out of "other processes". */
const ownPids = (target, backends, pool) => [
  ...serverPids(target),
  ...Object.values(backends).flat(),
  process.pid,
  ...pool.helperPids,
];

/**
 * The subscriber pool for `reader`: `{ kind: 'native', binary }` (the epoll reader of
 * native-pool.js) or `{ kind: 'js' }` (SubscriberPool, in this process).
 */
const makePool = (reader, port) =>
  reader.kind === 'native'
    ? new NativeSubscriberPool(port, reader.binary)
    : new SubscriberPool(port);

const sum = (xs) => xs.reduce((a, x) => a + x, 0);

/** A few connections and publishes so that lazy initialisation and JIT do not count as per-connection memory. */
async function warmUp(target, channel) {
  const pool = new SubscriberPool(target.port);
  await pool.connect(50, (i) => target.subscribe(channel, i));
  const ports = [publishPorts(target)].flat();
  const pub = new Publisher(ports, { connections: 2 * ports.length });
  await pub.run({
    rate: 500,
    total: 200,
    make: (k) => target.publish([channel], payload(k, clockMs())),
  });
  pub.close();
  await pool.closeAll();
  await sleep(500);
}

/** Server memory before/after connecting `n` streams, after a settle period. */
async function connectAndMeasure(target, pool, n, spec, p, log, track) {
  const pids = serverPids(target);
  const rss0 = sum(pids.map(rssKiB));
  const fd0 = sum(pids.map(fdCount));
  const cpu = new GroupCpuMeter(pids);
  cpu.start();
  const r = await pool.connect(n, spec, {
    concurrency: p.connectConcurrency,
    track,
    onProgress: (done, ok) => log(`  connecting: ${done}/${n} (${ok} ok)`),
  });
  const connectCpu = cpu.stop();
  await sleep(p.settleMs);
  const rss1 = sum(pids.map(rssKiB));
  const mem = {
    connections: r.ok,
    failed: r.failed,
    errors: { ...pool.errors },
    connectSeconds: round(r.ms / 1000, 2),
    connectsPerSec: Math.round(r.ok / (r.ms / 1000)),
    connectServerCpu: round(connectCpu.total * 100, 0),
    rssBeforeKiB: rss0,
    rssAfterKiB: rss1,
    kibPerConnection: round((rss1 - rss0) / Math.max(1, r.ok), 2),
    serverFds: sum(pids.map(fdCount)),
    serverFdsBefore: fd0,
  };
  if (pids.length > 1) mem.connectNodeCpu = connectCpu.each.map((c) => round(c.total * 100, 0));
  log(
    `  ${r.ok}/${n} streams open in ${mem.connectSeconds}s (${mem.connectsPerSec}/s)` +
      `${r.failed ? `, ${r.failed} failed ${JSON.stringify(pool.errors)}` : ''}; ` +
      `RSS ${rss0} -> ${rss1} KiB = ${mem.kibPerConnection} KiB per connection`,
  );
  return mem;
}

/**
 * Waits (up to `maxMs`) until other processes use less than `limit` cores, so that a step
 * measures the servers rather than whatever else shares the machine. Returns the last level.
 */
async function quietGate(target, pool, maxMs, limit = 0.3, log) {
  const until = performance.now() + maxMs;
  let others = 0;
  let said = false;
  const own = ownPids(target, await backendPids(target), pool);
  for (;;) {
    const m = new OthersMeter(own);
    m.start();
    await sleep(300);
    others = m.stop();
    if (others < limit || performance.now() > until) return others;
    if (!said && log)
      log(`  other processes use ${others.toFixed(2)} cores; waiting for a quieter moment`);
    said = true;
  }
}

/**
 * One measured step: publish `total` requests at `rate`/s, wait for every expected delivery
 * (or the drain timeout), then report latency, loss, duplicates and CPU of both sides. A
 * failing step during which the server or the generator mostly waited for a CPU (other work
 * on the machine) is run again, up to `p.retries` times.
 */
async function step(target, pool, pub, o, p, log) {
  let s;
  for (let attempt = 0; ; attempt++) {
    const othersBefore = await quietGate(target, pool, p.quietWaitMs, 0.3, log);
    s = await measureStep(target, pool, pub, { ...o, make: o.make() }, p);
    s.othersCoresBefore = Math.round(othersBefore * 100) / 100;
    s.attempt = attempt + 1;
    // Cluster nodes share one core and wait for each other: their wait share is not a sign
    // of other work there, only "others" is. So do this process and a native reader on core 1.
    const serverWaited = serverPids(target).length === 1 && s.serverWaitPct > 15;
    const generatorWaited = pool.helperPids.length === 0 && s.generatorWaitPct > 25;
    const contended = serverWaited || generatorWaited || s.othersCores > 0.3;
    s.contended = contended;
    if (s.pass || !contended || attempt >= p.retries || pool.readyCount < pool.size) return s;
    log?.(stepLine(s, `${o.what} (contended, retrying)`));
  }
}

/**
 * The pool's counters are read with `await`: a native pool's live in its reader process, and
 * `seqTotals()` refreshes them (`unexpectedCloses` among them).
 */
async function measureStep(target, pool, pub, o, p) {
  await pool.resetHistogram();
  const before = await pool.seqTotals();
  const closes0 = pool.unexpectedCloses;
  const backends = await backendPids(target);
  const server = new GroupCpuMeter(serverPids(target));
  const backendMeters = Object.entries(backends).map(([name, pids]) => [
    name,
    new GroupCpuMeter(pids),
  ]);
  // The generator: this process and the native reader, if any (both on core 1).
  const gen = new GroupCpuMeter([process.pid, ...pool.helperPids]);
  const others = new OthersMeter(ownPids(target, backends, pool));
  server.start();
  for (const [, m] of backendMeters) m.start();
  gen.start();
  others.start();
  const t0 = performance.now();
  const res = await pub.run({
    rate: o.rate,
    total: o.total,
    make: o.make,
    ackTimeoutMs: p.drainMs + 5000,
  });
  const serverCpu = server.stop();
  const backendCpu = backendMeters.map(([name, m]) => [name, m.stop()]);
  const genCpu = gen.stop();
  const othersCores = others.stop();
  const expected = o.total * o.deliveriesPerRequest;
  await waitFor(async () => (await pool.seqTotals()).uniq - before.uniq >= expected, p.drainMs);
  const after = await pool.seqTotals();
  const hist = (await pool.resetHistogram()).summary();
  const delivered = after.uniq - before.uniq;
  const seconds = res.sendMs / 1000 + 1 / o.rate;
  const out = {
    requestRate: round(o.rate, 1),
    eventsPerSec: round(o.rate * o.eventsPerRequest, 0),
    achievedRequestRate: round(res.achievedRate, 1),
    published: res.acked,
    publishErrors: res.errors,
    firstPublishError: res.firstError || undefined,
    expected,
    delivered,
    lost: expected - delivered,
    duplicates: after.dups - before.dups,
    disconnects: pool.unexpectedCloses - closes0,
    deliveriesPerSec: Math.round(delivered / seconds),
    latencyMs: {
      p50: round(hist.p50, 2),
      p90: round(hist.p90, 2),
      p99: round(hist.p99, 2),
      max: round(hist.max, 1),
    },
    ackP99Ms: round(res.ack.p99, 2),
    serverCpu: { user: round(serverCpu.user * 100, 0), sys: round(serverCpu.sys * 100, 0) },
    generatorCpu: round(genCpu.total * 100, 0),
    // of which the native reader, when it reads the streams
    readerCpu: genCpu.each.length > 1 ? round(genCpu.each[1].total * 100, 0) : undefined,
    // % of the step the main thread was ready to run but had no CPU (contention)
    serverWaitPct: round(serverCpu.waiting * 100, 0),
    generatorWaitPct: round(genCpu.waiting * 100, 0),
    // cores used by other processes on the machine during the step
    othersCores: round(othersCores, 2),
    wallSeconds: round((performance.now() - t0) / 1000, 2),
  };
  if (serverCpu.each.length > 1) {
    // Per node: user+sys % of a core, and the share of the step it waited for a CPU.
    out.nodes = serverCpu.each.map((c) => ({
      cpu: round(c.total * 100, 0),
      waitPct: round(c.waiting * 100, 0),
    }));
  }
  if (backendCpu.length > 0) {
    out.backendCpu = Object.fromEntries(
      backendCpu.map(([name, c]) => [name, round(c.total * 100, 0)]),
    );
  }
  // Everything but the latency bound: nothing lost, doubled, cut or refused, the rate kept.
  out.complete =
    out.lost === 0 &&
    out.duplicates === 0 &&
    out.disconnects === 0 &&
    out.publishErrors === 0 &&
    out.achievedRequestRate >= o.rate * 0.97;
  // The reader's core full: the latency is the reader's as much as the server's, so the step
  // says so and is not counted as the server's capacity (the ramp stops there).
  out.readerBound = (out.readerCpu ?? out.generatorCpu) >= 90;
  // The one capacity rule of every ramp: the highest offered rate whose step kept the rate,
  // lost and doubled nothing, stayed within its p99 bound, and was not reader-bound.
  out.pass =
    out.complete && !out.readerBound && Number.isFinite(hist.p99) && hist.p99 <= o.p99LimitMs;
  return out;
}

function stepLine(s, what) {
  return (
    `  ${what}: ${s.deliveriesPerSec.toLocaleString('en-US')} deliveries/s ` +
    `(${s.achievedRequestRate}/${s.requestRate} req/s) | p50 ${s.latencyMs.p50} p90 ${s.latencyMs.p90} ` +
    `p99 ${s.latencyMs.p99} max ${s.latencyMs.max} ms | lost ${s.lost} dup ${s.duplicates}` +
    `${s.disconnects ? ` disc ${s.disconnects}` : ''}${s.publishErrors ? ` puberr ${s.publishErrors}` : ''} | ` +
    `server cpu ${s.serverCpu.user}+${s.serverCpu.sys}sys% wait ${s.serverWaitPct}% | ` +
    `gen ${s.generatorCpu}%${s.readerCpu !== undefined ? ` (reader ${s.readerCpu}%)` : ''} wait ${s.generatorWaitPct}% | ` +
    `others ${s.othersCores} cores | ` +
    (s.nodes ? `nodes ${s.nodes.map((n) => `${n.cpu}%`).join(' ')} | ` : '') +
    (s.backendCpu
      ? `${Object.entries(s.backendCpu)
          .map(([k, v]) => `${k} ${v}%`)
          .join(' ')} | `
      : '') +
    `${s.pass ? 'PASS' : 'FAIL'}${s.readerBound ? ' (reader-bound)' : ''}`
  );
}

/**
 * The step runner of one scenario's pool and publisher: runs and logs one step of `seconds`
 * (the ramp's `p.stepSeconds` unless told) at `rate` requests/s. `make(total)` returns the
 * request maker of the step's `total` requests; the rest is `step`'s.
 */
function stepRunner(target, pool, pub, p, log) {
  return async ({ what, rate, seconds = p.stepSeconds, make, ...o }) => {
    const total = Math.max(1, Math.round(rate * seconds));
    const s = await step(
      target,
      pool,
      pub,
      {
        eventsPerRequest: 1,
        deliveriesPerRequest: 1,
        ...o,
        what,
        rate,
        total,
        make: () => make(total),
      },
      p,
      log,
    );
    log(stepLine(s, what));
    return s;
  };
}

/**
 * Request makers that number their events on from step to step: `send(seq)` sends the one
 * numbered `seq`, so a subscriber's sequence stays dense across the whole ramp.
 */
function numbered(send) {
  let seq = 0;
  return (total) => {
    const base = seq;
    seq += total;
    return (k) => send(base + k);
  };
}

/**
 * Geometric ramp with one bisection between the last passing rate and the first failing one
 * above it. The ramp stops at a failing step, unless `nearMiss(step)` says it failed on its
 * latency bound alone and only just: then one more step is tried, and a pass there goes on
 * with the ramp (two failures in a row always stop it).
 */
/** How many steps below its start a ramp whose first step failed may try. */
const STEPS_DOWN = 3;

export async function ramp(start, factor, maxSteps, runStep, canContinue, nearMiss = () => false) {
  const steps = [];
  let lastPass = null;
  let firstFail = null;
  let rate = start;
  for (let i = 0; i < maxSteps; i++) {
    const s = await runStep(rate);
    s.input = rate;
    steps.push(s);
    if (s.pass) {
      lastPass = s;
      firstFail = null;
    } else {
      const again = firstFail === null && nearMiss(s) && canContinue();
      firstFail ??= rate;
      if (!again) break;
    }
    rate *= factor;
  }
  // The first step failed: step down (at most STEPS_DOWN times) until one passes, so that the
  // ramp still names a capacity rather than none.
  for (let i = 0, down = start / factor; !lastPass && i < STEPS_DOWN; i++, down /= factor) {
    if (!canContinue()) break;
    const s = await runStep(down);
    s.input = down;
    steps.push(s);
    if (s.pass) lastPass = s;
  }
  if (lastPass && firstFail !== null && firstFail > lastPass.input && canContinue()) {
    const mid = Math.sqrt(lastPass.input * firstFail);
    const s = await runStep(mid);
    s.input = mid;
    steps.push(s);
    if (s.pass && s.deliveriesPerSec > lastPass.deliveriesPerSec) lastPass = s;
  }
  return { steps, best: lastPass };
}

/**
 * Fan-out: N subscribers on one channel; ramp the publish rate and keep the highest
 * deliveries/s with p99 <= 100 ms and nothing lost. `reader` says who reads the subscribers
 * (see makePool): the native reader keeps the generator's per-read cost out of the latency.
 */
export async function fanout(target, p, log, reader = { kind: 'js' }) {
  await target.start();
  let pool = null;
  try {
    await target.mintTokens(p.fanoutN + 50);
    await warmUp(target, 'bench:warm');
    pool = makePool(reader, target.port);
    log(`fan-out: ${p.fanoutN} subscribers on one channel, read by the ${reader.kind} reader`);
    const memory = await connectAndMeasure(
      target,
      pool,
      p.fanoutN,
      (i) => target.subscribe('bench', i),
      p,
      log,
      true,
    );
    const pub = new Publisher(target.port, { connections: 2, maxInflight: 64 });
    const run = stepRunner(target, pool, pub, p, log);
    const publishes = numbered((seq) => target.publish(['bench'], payload(seq, clockMs())));
    const runStep = (rate, label = '') =>
      run({
        what: `${label}${round(rate, 1)} msg/s x ${memory.connections}`,
        rate,
        deliveriesPerRequest: memory.connections,
        p99LimitMs: p.fanoutP99Ms,
        make: publishes,
      });
    const start = p.fanoutStartDeliveries / Math.max(1, memory.connections);
    // One unjudged step at the starting rate first, for every target alike: a JIT runtime's
    // first fan-outs to thousands of streams run unoptimized code and meet a fresh heap, and
    // one slow message decides a step's p99.
    const warm = await runStep(start, 'warm-up: ');
    // At the ramp's low end a step is a few dozen messages, and one slow message decides its
    // p99; a server that coalesces writes gets faster per message as the rate rises (run
    // 21-30 of 2026-12-04: Herald failed 2 messages/s at p99 105 ms, and in the run before
    // it held 67 messages/s at p99 73 ms). So a step that failed only on p99, within 1.5x the
    // bound, gets one more step above it, for every target alike; a saturated server's p99
    // is several times the bound (370-684 ms for the floor and nchan in the same runs).
    const nearMiss = (s) => s.complete && s.latencyMs.p99 <= 1.5 * p.fanoutP99Ms;
    const r = await ramp(
      start,
      p.fanoutFactor,
      p.fanoutMaxSteps,
      runStep,
      () => pool.readyCount === memory.connections,
      nearMiss,
    );
    pub.close();
    return {
      reader: reader.kind,
      subscribers: memory.connections,
      memory,
      capacity: r.best
        ? {
            deliveriesPerSec: r.best.deliveriesPerSec,
            messagesPerSec: r.best.achievedRequestRate,
            latencyMs: r.best.latencyMs,
            serverCpu: r.best.serverCpu,
            serverCpuTotal: r.best.serverCpu.user + r.best.serverCpu.sys,
            generatorCpu: r.best.generatorCpu,
          }
        : null,
      warmUp: warm,
      steps: r.steps,
    };
  } finally {
    await pool?.closeAll();
    await target.stop();
    target.cleanup();
  }
}

/**
 * Targeted events over n user channels: event m goes to user m % n with per-user sequence
 * floor(m / n), so every subscriber's sequence is dense. `singles` and `batches` return the
 * request maker of a step of `total` requests.
 */
class UserEvents {
  constructor(target, n) {
    this.target = target;
    this.n = n;
    this.m = 0;
  }

  singles(total) {
    const { target, n } = this;
    const base = this.m;
    this.m += total;
    return (k) => {
      const e = base + k;
      return target.publish([target.userChannel(e % n)], payload(Math.floor(e / n), clockMs()));
    };
  }

  /** One notification per request, in the order of `singles`. */
  notifies(total) {
    const { target, n } = this;
    const base = this.m;
    this.m += total;
    return (k) => {
      const e = base + k;
      return target.notify(e % n, payload(Math.floor(e / n), clockMs()));
    };
  }

  /** Each request a whole round: every connected user, padded to `listed` user ids. */
  broadcasts(total, listed) {
    const { target, n } = this;
    this.m = Math.ceil(this.m / n) * n;
    const base = this.m / n;
    this.m += total * n;
    const users = Array.from({ length: Math.max(listed, n) }, (_, i) => i);
    return (k) => target.broadcast(users, payload(base + k, clockMs()));
  }

  /** Requests of b events each, to b consecutive users of one round. */
  batches(total, b) {
    const { target, n } = this;
    this.m = Math.ceil(this.m / n) * n; // a fresh round, so every batch stays within one round
    const base = this.m;
    this.m += total * b;
    return (k) => {
      const first = base + k * b;
      const chans = [];
      for (let j = 0; j < b; j++) chans.push(target.userChannel((first + j) % n));
      return target.publish(chans, payload(Math.floor(first / n), clockMs()));
    };
  }
}

/**
 * Idle memory and targeted delivery: N users, each on its own channel `user:{i}` (durable
 * on Herald). First the idle memory, then a fixed rate of single-event publishes, then a
 * ramp of batched publishes to find the sustained capacity with p99 <= 50 ms.
 */
export async function users(target, p, log, reader = { kind: 'js' }) {
  await target.start();
  let pool = null;
  try {
    const n = p.usersN;
    await target.mintTokens(n + 50);
    await warmUp(target, 'bench:warm');
    pool = makePool(reader, target.port);
    log(
      `idle + targeted: ${n} subscribers, one user channel each, read by the ${reader.kind} reader`,
    );
    const memory = await connectAndMeasure(
      target,
      pool,
      n,
      (i) => target.subscribe(target.userChannel(i), i),
      p,
      log,
      true,
    );
    // Idle CPU: what holding the connections costs with nothing published.
    const idleCpu = new CpuMeter(target.pid);
    idleCpu.start();
    await sleep(1000);
    memory.idleServerCpu = round(idleCpu.stop().total * 100, 1);

    const events = new UserEvents(target, n);
    const pub = new Publisher(target.port, { connections: 4, maxInflight: 64 });
    const run = stepRunner(target, pool, pub, p, log);
    /** A fixed-rate step of single-event publishes. */
    const singles = (rate, seconds, label = '') =>
      run({
        what: `${label}fixed ${rate}/s single-event publishes`,
        rate,
        seconds,
        p99LimitMs: 5,
        make: (total) => events.singles(total),
      });
    // An unjudged run at the same rate first, for every target alike (as fan-out's warm-up):
    // right after 10,000 streams connect, a JIT runtime's publish path is still unoptimized and
    // its young generation holds the connections' garbage. Herald's first second at 2,000/s
    // there had event-loop delays of 30-70 ms and scavenges of 12-16 ms (traced, run 18-26 of
    // 2026-12-03); the steady state is what the target is about. Its figures are kept.
    const fixedWarmUp =
      p.targetedWarmSeconds > 0
        ? await singles(p.targetedRate, p.targetedWarmSeconds, 'warm-up: ')
        : null;
    const fixed = await singles(p.targetedRate, p.targetedSeconds);

    const b = p.batch;
    const runStep = (eventsPerSec, seconds = p.stepSeconds, label = '') =>
      run({
        what: `${label}${Math.round(eventsPerSec)} events/s in batches of ${b}`,
        rate: eventsPerSec / b,
        seconds,
        eventsPerRequest: b,
        deliveriesPerRequest: b,
        p99LimitMs: 50,
        make: (total) => events.batches(total, b),
      });
    const r = await ramp(
      p.targetedRampStart,
      p.targetedFactor,
      p.targetedMaxSteps,
      runStep,
      () => pool.readyCount === memory.connections,
    );
    // The issue's durable target is a rate held for a while, not the ramp's highest short
    // step: the ramp's steps (x1.5) pass 15,188 and 22,782 but never 20,000 itself, and each
    // lasts 6 s. So the target's own rate is judged once more, for `sustainedSeconds`.
    const sustained =
      p.sustainedSeconds > 0 && pool.readyCount === memory.connections
        ? await runStep(p.sustainedRate, p.sustainedSeconds, `sustained ${p.sustainedSeconds} s: `)
        : null;
    pub.close();
    return {
      reader: reader.kind,
      subscribers: memory.connections,
      memory,
      fixedWarmUp,
      fixed,
      batch: b,
      capacity: r.best
        ? {
            eventsPerSec: r.best.deliveriesPerSec,
            latencyMs: r.best.latencyMs,
            serverCpu: r.best.serverCpu,
            generatorCpu: r.best.generatorCpu,
          }
        : null,
      sustained: sustained && {
        seconds: p.sustainedSeconds,
        ...sustained,
        serverCpuTotal: sustained.serverCpu.user + sustained.serverCpu.sys,
      },
      steps: r.steps,
    };
  } finally {
    await pool?.closeAll();
    await target.stop();
    target.cleanup();
  }
}

/**
 * Reconnect storm: N clients with a cursor go away, each user gets `missing` events, and
 * all N reconnect at once with Last-Event-ID. Every client must get exactly its missing
 * events. Herald (durable) restarts on the same data dir in between when `stormRestart` is 1 (its
 * durable store replays them, the in-memory ring is gone); nchan keeps running, because its
 * message buffer is only in memory and a restart would lose it.
 */
export async function storm(target, p, log) {
  const n = p.stormN;
  const missing = 10;
  await target.start();
  try {
    await target.mintTokens(n);
    const pool = new SubscriberPool(target.port);
    const restart = p.stormRestart === 1 && target.durable === true;
    log(
      `reconnect storm: ${n} clients, ${missing} missed events each, ` +
        (restart ? 'server restart in between' : 'server kept running'),
    );
    const c = await pool.connect(n, (i) => target.subscribe(target.userChannel(i), i), {
      concurrency: p.connectConcurrency,
      track: true,
    });
    if (c.failed) log(`  ${c.failed} initial connections failed ${JSON.stringify(pool.errors)}`);
    const pub = new Publisher(target.port, { connections: 4, maxInflight: 16 });
    const b = p.batch;
    const publishRounds = async (first, rounds) => {
      const total = (n / b) * rounds;
      return pub.run({
        rate: 2000,
        total,
        ackTimeoutMs: 60_000,
        make: (k) => {
          const e = first * n + k * b;
          const chans = [];
          for (let j = 0; j < b; j++) chans.push(target.userChannel((e + j) % n));
          return target.publish(chans, payload(Math.floor(e / n), clockMs()));
        },
      });
    };
    // Round 0 while connected: every client has a cursor.
    await publishRounds(0, 1);
    await waitFor(() => pool.seqTotals().uniq >= c.ok, 30_000);
    await pool.closeAll();
    const t1 = performance.now();
    const r = await publishRounds(1, missing);
    log(
      `  clients away; published ${r.acked * b} events (${missing} per user) in ` +
        `${round((performance.now() - t1) / 1000, 2)}s, ${r.errors} errors`,
    );
    pub.close();
    if (restart) {
      await target.stop();
      await target.start(target.dataDir);
      log('  server restarted on the same data dir; all clients reconnect now');
    } else log('  all clients reconnect now');
    const before = pool.seqTotals();
    const closes0 = pool.unexpectedCloses;
    pool.errors = {};
    pool.control = {};
    const others = await quietGate(target, pool, p.quietWaitMs, 0.3, log);
    const cpu = new CpuMeter(target.pid);
    const gen = new CpuMeter(process.pid);
    cpu.start();
    gen.start();
    const t0 = performance.now();
    let allIn = 0;
    const want = before.uniq + missing * c.ok;
    const done = waitFor(() => pool.seqTotals().uniq >= want, p.stormTimeoutMs).then(() => {
      allIn = performance.now() - t0;
    });
    // First wave: every client at once. A client whose connection attempt fails (SYN dropped
    // past the listen backlog until our timeout, reset) tries again after the server's
    // `retry` hint, as EventSource does; waves repeat until all are in or time is up.
    const subs = pool.subs.slice(0, n);
    const spec = (s) => target.subscribe(target.userChannel(s.index), s.index, s.lastEventId);
    const waves = [];
    let pending = subs;
    const until = t0 + p.stormTimeoutMs;
    let firstErrors = null;
    while (pending.length > 0 && performance.now() < until) {
      if (waves.length > 0) await sleep(2000);
      const w = await pool.reconnect(pending, spec, {
        concurrency: p.stormConcurrency,
        timeoutMs: Math.max(1000, Math.min(30_000, until - performance.now())),
      });
      waves.push({ attempted: pending.length, ok: w.ok, seconds: round(w.ms / 1000, 2) });
      firstErrors ??= { ...pool.errors };
      pending = pending.filter((s) => !s.ready);
    }
    const connectedMs = performance.now() - t0;
    await done;
    const serverCpu = cpu.stop();
    const generatorCpu = gen.stop();
    const stormSeconds = (performance.now() - t0) / 1000;
    const after = pool.seqTotals();
    const connected = n - pending.length;
    const result = {
      clients: n,
      missingPerClient: missing,
      restarted: restart,
      reconnected: connected,
      reconnectFailed: pending.length,
      waves,
      firstWaveErrors: firstErrors,
      errors: { ...pool.errors },
      allConnectedSeconds: round(connectedMs / 1000, 2),
      allResumedSeconds: allIn ? round(allIn / 1000, 2) : null,
      expected: missing * c.ok,
      delivered: after.uniq - before.uniq,
      lost: missing * c.ok - (after.uniq - before.uniq),
      duplicates: after.dups - before.dups,
      resets: pool.control.reset ?? 0,
      disconnects: pool.unexpectedCloses - closes0,
      serverCpu: round(serverCpu.total * 100, 0),
      // CPU time is what the storm costs the server whatever else shares the core: on a busy
      // machine the wall time above is mostly the wait for a CPU (serverWaiting).
      serverCpuMsPerResume: round(
        (serverCpu.total * stormSeconds * 1000) / Math.max(1, connected),
        3,
      ),
      serverWaiting: round(serverCpu.waiting * 100, 0),
      generatorCpu: round(generatorCpu.total * 100, 0),
      othersBefore: round(others, 2),
    };
    result.pass =
      result.lost === 0 && result.duplicates === 0 && result.resets === 0 && pending.length === 0;
    log(
      `  ${connected}/${n} reconnected in ${result.allConnectedSeconds}s (${waves.length} wave(s): ` +
        `${waves.map((w) => `${w.ok}/${w.attempted}`).join(', ')}; first-wave errors ${JSON.stringify(firstErrors)}); ` +
        `all ${result.expected} missed events in after ${result.allResumedSeconds}s | lost ${result.lost} ` +
        `dup ${result.duplicates} resets ${result.resets} | server cpu ${result.serverCpu}% ` +
        `(${result.serverCpuMsPerResume} ms per resume) wait ${result.serverWaiting}% | ` +
        `gen ${result.generatorCpu}% | ${result.pass ? 'PASS' : 'FAIL'}`,
    );
    await pool.closeAll();
    return result;
  } finally {
    await target.stop();
    target.cleanup();
  }
}

/**
 * Holding connections: `holdN` streams split over this process and one child process
 * (each process has its own 20,000-descriptor limit). Reports what the server holds.
 */
export async function hold(target, p, log) {
  const n = p.holdN;
  const half = Math.floor(n / 2);
  await target.start();
  try {
    await target.mintTokens(half);
    log(`hold: ${n} streams (${half} here, ${n - half} in a child process)`);
    const rss0 = rssKiB(target.pid);
    const worker = fork(fileURLToPath(new URL('./hold-worker.js', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(worker);
    const workerDone = new Promise((resolve) =>
      worker.on('message', (msg) => msg.type === 'connected' && resolve(msg)),
    );
    worker.send({
      type: 'start',
      port: target.port,
      secret: target.secret,
      first: half,
      count: n - half,
      concurrency: p.connectConcurrency,
    });
    const pool = new SubscriberPool(target.port);
    const t0 = performance.now();
    const [mine, theirs] = await Promise.all([
      pool.connect(half, (i) => target.subscribe(target.userChannel(i), i), {
        concurrency: p.connectConcurrency,
      }),
      workerDone,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    await sleep(p.settleMs);
    const held = mine.ok + theirs.ok;
    const stillOpen = pool.readyCount;
    const rss1 = rssKiB(target.pid);
    const serverFds = fdCount(target.pid);
    const health = await fetch(`http://127.0.0.1:${target.port}/healthz`)
      .then((r) => r.json())
      .catch((e) => ({ error: String(e) }));
    const errors = { ...pool.errors };
    for (const [k, v] of Object.entries(theirs.errors)) errors[k] = (errors[k] ?? 0) + v;
    const result = {
      attempted: n,
      held,
      failed: n - held,
      errors,
      seconds: round(seconds, 2),
      serverReportsConnections: health.connections ?? null,
      serverFds,
      serverFdLimit: fdLimit(target.pid),
      rssKiB: rss1,
      kibPerConnection: round((rss1 - rss0) / Math.max(1, held), 2),
      stillOpenHere: stillOpen,
    };
    log(
      `  held ${held}/${n} (server counts ${result.serverReportsConnections}, ${serverFds} fds of ${result.serverFdLimit}) ` +
        `in ${result.seconds}s; errors ${JSON.stringify(errors)}; RSS ${rss1} KiB`,
    );
    worker.send({ type: 'stop' });
    await pool.closeAll();
    await new Promise((r) => (worker.exitCode !== null ? r(undefined) : worker.once('exit', r)));
    return result;
  } finally {
    await target.stop();
    target.cleanup();
  }
}

/**
 * Cluster (Herald): `target` is a HeraldClusterTarget (3 nodes, PostgreSQL store, Redis
 * broker). Subscribers connect straight to the nodes, subscriber i to node i mod 3; every
 * publish request goes to the next node in turn, so two thirds of the deliveries reach a
 * subscriber on another node than the one that took the publish (and every event, even a
 * local one, travels through Redis). Two ramps, each with its own streams:
 *
 * - targeted: `clusterUsersN` users, each on `user:{i}`, durable batched publishes (one
 *   request names `clusterBatch` user channels); the highest events/s with p99 <= 100 ms and
 *   nothing lost, against the seed document's "5,000+ events/s with Redis, under 100 ms";
 * - fan-out: `clusterFanoutN` subscribers of one channel, spread over the nodes; the highest
 *   deliveries/s with p99 <= 100 ms and nothing lost.
 *
 * Besides the generator, every step records each node's CPU, Redis's and that of the
 * PostgreSQL backends serving the nodes.
 */
export async function cluster(target, p, log) {
  const n = p.clusterUsersN;
  const b = p.clusterBatch;
  const nodes = target.ports.length;
  await target.start();
  try {
    const topology = target.describe();
    log(`cluster: ${nodes} nodes (ports ${target.ports.join(', ')}); ${topology.broker}`);
    log(`  store: ${topology.store}`);
    await target.mintTokens(Math.max(n, p.clusterFanoutN) + 50);
    await warmUp(target, 'bench:warm');
    const pub = new Publisher(target.publishPorts, { connections: 2 * nodes, maxInflight: 64 });
    const capacityOf = (best) =>
      best
        ? {
            eventsPerSec: best.deliveriesPerSec,
            askedEventsPerSec: best.eventsPerSec,
            deliveriesPerSec: best.deliveriesPerSec,
            requestsPerSec: best.achievedRequestRate,
            latencyMs: best.latencyMs,
            nodesCpuTotal: best.serverCpu.user + best.serverCpu.sys,
            nodes: best.nodes,
            backendCpu: best.backendCpu,
            generatorCpu: best.generatorCpu,
            othersCores: best.othersCores,
          }
        : null;

    // ---- targeted: durable events to per-user channels, batched ----
    log(`cluster targeted: ${n} subscribers, one user channel each, ${n / nodes} per node`);
    const users = new SubscriberPool(target.port);
    const usersMem = await connectAndMeasure(
      target,
      users,
      n,
      (i) => target.subscribe(target.userChannel(i), i),
      p,
      log,
      true,
    );
    const events = new UserEvents(target, n);
    const runUsers = stepRunner(target, users, pub, p, log);
    const targetedStep = (eventsPerSec) =>
      runUsers({
        what: `cluster ${Math.round(eventsPerSec)} events/s in batches of ${b}`,
        rate: eventsPerSec / b,
        eventsPerRequest: b,
        deliveriesPerRequest: b,
        p99LimitMs: 100,
        make: (total) => events.batches(total, b),
      });
    const targeted = await ramp(
      p.clusterRampStart,
      p.clusterFactor,
      p.clusterMaxSteps,
      targetedStep,
      () => users.readyCount === usersMem.connections,
    );
    await users.closeAll();

    // ---- fan-out: one channel, subscribers on every node ----
    log(
      `cluster fan-out: ${p.clusterFanoutN} subscribers of one channel, spread over ${nodes} nodes`,
    );
    const fans = new SubscriberPool(target.port);
    const fanMem = await connectAndMeasure(
      target,
      fans,
      p.clusterFanoutN,
      (i) => target.subscribe('bench', i),
      p,
      log,
      true,
    );
    const runFans = stepRunner(target, fans, pub, p, log);
    const publishes = numbered((seq) => target.publish(['bench'], payload(seq, clockMs())));
    const fanStep = (rate) =>
      runFans({
        what: `cluster ${round(rate, 1)} msg/s x ${fanMem.connections}`,
        rate,
        deliveriesPerRequest: fanMem.connections,
        p99LimitMs: 100,
        make: publishes,
      });
    const fanout = await ramp(
      p.clusterFanoutStartDeliveries / Math.max(1, fanMem.connections),
      p.clusterFanoutFactor,
      p.clusterFanoutMaxSteps,
      fanStep,
      () => fans.readyCount === fanMem.connections,
    );
    pub.close();
    await fans.closeAll();

    const claim = { eventsPerSec: 5000, p99Ms: 100 };
    const atClaim = targeted.steps.find((s) => Math.abs(s.eventsPerSec - claim.eventsPerSec) < 1);
    return {
      topology,
      nodes,
      durable: target.durable,
      targeted: {
        subscribers: usersMem.connections,
        batch: b,
        memory: usersMem,
        capacity: capacityOf(targeted.best),
        steps: targeted.steps,
      },
      fanout: {
        subscribers: fanMem.connections,
        memory: fanMem,
        capacity: capacityOf(fanout.best),
        steps: fanout.steps,
      },
      seedClaim: {
        text: '"5,000+ events/s with Redis", delivery under 100 ms',
        ...claim,
        heraldEventsPerSec: targeted.best?.deliveriesPerSec ?? null,
        // Met when a step asking for at least the claimed rate passed (the achieved rate of a
        // passing step is within 3 % of what was asked).
        met: (targeted.best?.eventsPerSec ?? 0) >= claim.eventsPerSec,
        atClaimRate: atClaim
          ? {
              latencyMs: atClaim.latencyMs,
              lost: atClaim.lost,
              duplicates: atClaim.duplicates,
              achievedEventsPerSec: atClaim.deliveriesPerSec,
              pass: atClaim.pass,
            }
          : null,
      },
    };
  } finally {
    await target.stop();
    target.cleanup();
  }
}

function fdLimit(pid) {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : null;
}

/**
 * The inbox path, one request per notification (issue 22, target 1), and single-event
 * `/publish` (target 5), over N user channels read by the native reader: 64 keep-alive
 * publishers, each with one request in flight, as a service calling `POST /notify/{user}`
 * once per notification does. Steps: 2,000 notifies/s held (p99 <= 5 ms, CPU <= 25 %),
 * a notify ramp (p99 <= 20 ms), a ramp of single-event `/publish`, and last `/broadcast` to
 * 10,000 listed users. On the peers, which have no inbox, a notify is a publish to the
 * user's channel and a broadcast one publish to every user's channel.
 */
export async function inbox(target, p, log, reader = { kind: 'js' }) {
  await target.start();
  let pool = null;
  try {
    const n = p.usersN;
    await target.mintTokens(n + 50);
    await warmUp(target, 'bench:warm');
    pool = makePool(reader, target.port);
    log(`inbox: ${n} subscribers, one user channel each, ${p.inboxPublishers} publishers`);
    const memory = await connectAndMeasure(
      target,
      pool,
      n,
      (i) => target.subscribe(target.userChannel(i), i),
      p,
      log,
      true,
    );
    const pub = new Publisher(target.port, { connections: p.inboxPublishers, maxInflight: 1 });
    const events = new UserEvents(target, n);
    const run = stepRunner(target, pool, pub, p, log);
    const notifies = (total) => events.notifies(total);
    const warm = await run({
      what: 'warm-up: 2000/s notifies',
      rate: 2000,
      seconds: 1,
      p99LimitMs: 5,
      make: notifies,
    });
    const fixed = await run({
      what: 'fixed 2000/s notifies',
      rate: 2000,
      seconds: p.targetedSeconds,
      p99LimitMs: 5,
      make: notifies,
    });
    fixed.serverCpuTotal = fixed.serverCpu.user + fixed.serverCpu.sys;
    const ready = () => pool.readyCount === memory.connections;
    const notify = await ramp(
      p.inboxRampStart,
      p.inboxFactor,
      p.inboxMaxSteps,
      (rate) =>
        run({ what: `${Math.round(rate)}/s notifies`, rate, p99LimitMs: 20, make: notifies }),
      ready,
    );
    const singles = await ramp(
      p.singlesRampStart,
      p.inboxFactor,
      p.inboxMaxSteps,
      (rate) =>
        run({
          what: `${Math.round(rate)}/s single-event publishes`,
          rate,
          p99LimitMs: 20,
          make: (total) => events.singles(total),
        }),
      ready,
    );
    // Last: a broadcast leaves seconds of deliveries behind it, which the steps above would
    // otherwise inherit.
    const listed = 10_000;
    const broadcast =
      target.broadcast && ready()
        ? await run({
            what: `broadcasts to ${listed} listed users (${n} connected), 2/s`,
            rate: 2,
            eventsPerRequest: n,
            deliveriesPerRequest: n,
            p99LimitMs: 100,
            make: (total) => events.broadcasts(total, listed),
          })
        : null;
    pub.close();
    return {
      reader: reader.kind,
      subscribers: memory.connections,
      publishers: p.inboxPublishers,
      warmUp: warm,
      fixed,
      notify: { steps: notify.steps, best: notify.best },
      broadcast,
      singles: { steps: singles.steps, best: singles.best },
    };
  } finally {
    await pool?.closeAll();
    await target.stop();
    target.cleanup();
  }
}

/**
 * Seed 003's alerts on the durable path: `POST /notifications` to a shared feed with a
 * severity, read by `alertsN` alert-stream subscribers (`GET /alerts/stream?channel=`), 64
 * publishers with one request in flight each; a ramp with p99 <= 20 ms. On the peers, a
 * publish to the feed's channel.
 */
export async function alerts(target, p, log, reader = { kind: 'js' }) {
  await target.start();
  let pool = null;
  try {
    const n = p.alertsN;
    await target.mintTokens(n + 50);
    await warmUp(target, 'bench:warm');
    pool = makePool(reader, target.port);
    log(`alerts: ${n} alert-stream subscribers, ${p.inboxPublishers} publishers`);
    const memory = await connectAndMeasure(
      target,
      pool,
      n,
      (i) => target.subscribeAlerts(ALERT_FEED, i),
      p,
      log,
      true,
    );
    const pub = new Publisher(target.port, { connections: p.inboxPublishers, maxInflight: 1 });
    const run = stepRunner(target, pool, pub, p, log);
    const alertsSent = numbered((seq) => target.alert(ALERT_FEED, payload(seq, clockMs())));
    const runStep = (rate, label = '') =>
      run({
        what: `${label}${Math.round(rate)}/s alerts x ${memory.connections}`,
        rate,
        deliveriesPerRequest: memory.connections,
        p99LimitMs: 20,
        make: alertsSent,
      });
    const warm = await runStep(2000, 'warm-up: ');
    const r = await ramp(
      p.inboxRampStart,
      p.inboxFactor,
      p.inboxMaxSteps,
      runStep,
      () => pool.readyCount === memory.connections,
    );
    pub.close();
    return {
      reader: reader.kind,
      subscribers: memory.connections,
      publishers: p.inboxPublishers,
      warmUp: warm,
      steps: r.steps,
      best: r.best,
    };
  } finally {
    await pool?.closeAll();
    await target.stop();
    target.cleanup();
  }
}

/** The shared feed of the alerts scenario (inside the bench tokens' `bench:*` grant). */
const ALERT_FEED = 'bench:alerts';
