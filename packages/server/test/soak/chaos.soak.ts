import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  Cluster,
  PrivatePostgres,
  PrivateRedis,
  Publisher,
  ROOT,
  RawSubscriber,
  cleanupAll,
  rng,
  storedEvents,
  token,
} from '../cluster-harness.js';
import { waitFor } from '../helpers.js';
import { outageProxy } from '../outage-proxy.js';

/**
 * The chaos soak (`npm run soak -- --minutes 30`; not part of `npm test`): three nodes behind
 * nginx with a private Redis and a private PostgreSQL, steady publishers, subscribers that
 * drop and resume at random, and every 20-40 s a random fault: a node killed (SIGKILL) and
 * restarted, a node paused (SIGSTOP) and resumed, one node's Redis connection stalled, Redis
 * restarted, PostgreSQL restarted. At the end it prints lost / duplicated / reordered (all
 * must be 0), each node's RSS over time, and the p99 delivery latency outside fault windows,
 * and writes the report under bench/results/.
 *
 * Settings (environment): HERALD_SOAK_MINUTES (default 3), HERALD_SOAK_SUBSCRIBERS (2000),
 * HERALD_SOAK_RATE (events per second, default 40).
 */

const MINUTES = Number(process.env['HERALD_SOAK_MINUTES'] ?? 3);
const SUBSCRIBERS = Number(process.env['HERALD_SOAK_SUBSCRIBERS'] ?? 2000);
const RATE = Number(process.env['HERALD_SOAK_RATE'] ?? 40);
const CHANNELS = Array.from({ length: 20 }, (_, i) => `soak:${i}`);
/** After a fault ends, how long its effects count as part of it (reconnects, backfills). */
const SETTLE_MS = 5000;
/**
 * How long a node killed by the soak may take to answer /readyz again: on a 2-core machine
 * shared with other work, one restart took over 20 s (a 30-minute run, 2026-12-07).
 */
const RESTART_READY_MS = 90_000;

afterAll(cleanupAll, 120_000);

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A publisher that remembers when each event was first sent (for delivery latency). */
class TimedPublisher extends Publisher {
  readonly firstSent = new Map<string, number>();
  override publishOne(channel: string, key: string, abandon?: () => boolean): Promise<void> {
    if (!this.firstSent.has(key)) this.firstSent.set(key, Date.now());
    return super.publishOne(channel, key, abandon);
  }
}

/** A subscriber that never drops, and records when each event first arrived. */
class LatencyProbe extends RawSubscriber {
  readonly arrived = new Map<string, number>();
  protected override onEvent(type: string, data: string, id: string | undefined): void {
    super.onEvent(type, data, id);
    if (type !== 'tick') return;
    const { k } = JSON.parse(data) as { k: string };
    if (!this.arrived.has(k)) this.arrived.set(k, Date.now());
  }
}

interface FaultWindow {
  readonly fault: string;
  readonly start: number;
  end: number;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    return 'unknown';
  }
}

function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

it(`chaos soak: ${MINUTES} min, 3 nodes, ${SUBSCRIBERS} subscribers`, async () => {
  const redis = await PrivateRedis.start();
  const postgres = await PrivatePostgres.start();
  const proxies = await Promise.all([0, 1, 2].map(() => outageProxy(redis.url)));
  const cluster = await Cluster.start({
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    privateDatabase: true,
    env: {
      HERALD_HEARTBEAT_MS: '5000',
      HERALD_RATE_LIMIT_CONNECT_PER_IP: '0',
      HERALD_RATE_LIMIT_CONNECT_PER_USER: '0',
      HERALD_RATE_LIMIT_PUBLISH_PER_IP: '0',
      HERALD_RATE_LIMIT_PUBLISH_PER_KEY: '0',
      HERALD_MAX_CONNECTIONS_PER_IP: '0',
    },
    nodeEnv: (i): Record<string, string> => ({ HERALD_REDIS_URL: proxies[i]!.url }),
  });
  const random = rng(20261207);
  const started = Date.now();
  const endAt = started + MINUTES * 60_000;

  // Subscribers: two channels each, through nginx; a few probes that never drop.
  const subs: RawSubscriber[] = [];
  const probes: LatencyProbe[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const a = CHANNELS[i % CHANNELS.length]!;
    const b = CHANNELS[(i * 7 + 3) % CHANNELS.length]!;
    const mine = a === b ? [a] : [a, b].sort();
    const t = await token(`soak-u${i}`, ['soak:*']);
    const s =
      i < 20
        ? new LatencyProbe(`probe${i}`, mine, cluster.url, t)
        : new RawSubscriber(`sub${i}`, mine, cluster.url, t);
    if (s instanceof LatencyProbe) probes.push(s);
    subs.push(s.start());
    if (i % 100 === 99) await pause(50);
  }
  await waitFor(() => subs.every((s) => s.connects >= 1), 120_000, 'every subscriber');

  // Publishers: steady, idempotent, through nginx and straight to the nodes.
  const pubs = [
    new TimedPublisher('pa', [cluster.url]),
    new TimedPublisher(
      'pb',
      cluster.nodes.map((n) => n.url),
    ),
  ];
  const delayMs = Math.max(1, Math.round((1000 * 4) / (RATE / pubs.length)));
  const running = pubs.map((p, i) =>
    p.run(Number.MAX_SAFE_INTEGER, CHANNELS, {
      seed: 100 + i,
      concurrency: 4,
      delayMs,
      until: () => Date.now() > endAt,
    }),
  );

  // Subscribers drop and resume at random (the probes never do).
  const dropper = setInterval(() => {
    const s = subs[20 + Math.floor(random() * (subs.length - 20))];
    if (s?.connected) s.drop(Math.floor(random() * 500));
  }, 100);

  // RSS of every node, every 10 s.
  const rss: { t: number; mib: (number | undefined)[] }[] = [];
  const sampler = setInterval(() => {
    rss.push({
      t: Math.round((Date.now() - started) / 1000),
      mib: cluster.nodes.map((n) => rssMiB(n.proc?.child.pid)),
    });
  }, 10_000);

  // Faults, one at a time, every 20-40 s.
  const windows: FaultWindow[] = [];
  const faults: Record<string, () => Promise<void>> = {
    'sigkill node': async () => {
      const n = cluster.node(Math.floor(random() * 3));
      await n.stop('SIGKILL');
      await pause(1000);
      await n.start(RESTART_READY_MS);
    },
    'sigstop node': async () => {
      const n = cluster.node(Math.floor(random() * 3));
      n.proc?.signal('SIGSTOP');
      await pause(3000);
      n.proc?.signal('SIGCONT');
    },
    'redis partition': async () => {
      const p = proxies[Math.floor(random() * 3)]!;
      p.stall();
      await pause(8000);
      p.restore();
    },
    'redis restart': async () => {
      await redis.stop();
      await pause(2000);
      await redis.start();
    },
    'postgres restart': async () => {
      await postgres.stop();
      await pause(2000);
      await postgres.start();
    },
  };
  // In a shuffled round, so that a short run still sees every kind.
  const names = Object.keys(faults).sort(() => random() - 0.5);
  while (Date.now() + 30_000 < endAt) {
    await pause(20_000 + random() * 20_000);
    const name = names[windows.length % names.length]!;
    const w: FaultWindow = { fault: name, start: Date.now(), end: 0 };
    windows.push(w);
    await faults[name]!();
    w.end = Date.now() + SETTLE_MS;
    process.stdout.write(`soak: ${name} at ${Math.round((w.start - started) / 1000)} s\n`);
  }
  await Promise.all(running);
  clearInterval(dropper);
  // Everyone reconnects with its cursor and catches up.
  await waitFor(() => subs.every((s) => s.connected), 60_000, 'every subscriber to be back');

  // Lost / duplicated / reordered, against what PostgreSQL holds.
  const stored = await storedEvents(cluster.databaseUrl, cluster.schema, CHANNELS);
  const seqOf = new Map<string, number>();
  for (const rows of stored.values()) for (const r of rows) seqOf.set(r.key, r.seq);
  const behind = () =>
    subs.some((s) =>
      s.channels.some((c) => (s.got.get(c)?.length ?? 0) < (stored.get(c)?.length ?? 0)),
    );
  await waitFor(() => !behind(), 120_000, 'every subscriber to catch up').catch(() => undefined);
  clearInterval(sampler);
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  let received = 0;
  for (const p of pubs) for (const [k, a] of p.acked) if (seqOf.get(k) !== a.seq) lost++;
  for (const s of subs) {
    for (const c of s.channels) {
      const got = s.got.get(c) ?? [];
      received += got.length;
      const seen = new Set(got);
      duplicated += got.length - seen.size;
      for (const r of stored.get(c) ?? []) if (!seen.has(r.key)) lost++;
      let last = 0;
      for (const k of got) {
        const seq = seqOf.get(k) ?? 0;
        if (seq < last) reordered++;
        last = Math.max(last, seq);
      }
    }
  }

  // Delivery latency outside fault windows: first send to first arrival at a probe.
  const inFault = (t: number) => windows.some((w) => t >= w.start && t <= w.end);
  const latencies: number[] = [];
  for (const probe of probes) {
    for (const [k, at] of probe.arrived) {
      const sent = pubs.map((p) => p.firstSent.get(k)).find((v) => v !== undefined);
      if (sent !== undefined && !inFault(sent) && !inFault(at)) latencies.push(at - sent);
    }
  }
  latencies.sort((a, b) => a - b);
  const pct = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))];

  const sent = pubs.reduce((n, p) => n + p.sent, 0);
  const acked = pubs.reduce((n, p) => n + p.ackedCount, 0);
  const reconnects = subs.reduce((n, s) => n + s.connects - 1, 0);
  const lines = [
    `# Chaos soak, ${MINUTES} min (${new Date(started).toISOString()})`,
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB,` +
      ` load average at the end ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}. Node ${process.version}. Commit ${commit()}.`,
    `Setup: 3 nodes behind nginx, private Redis and PostgreSQL, ${SUBSCRIBERS} subscribers (2 channels each of ${CHANNELS.length}) that drop and resume at random, ${RATE} events/s target.`,
    '',
    `sent ${sent} / acked ${acked} / stored ${seqOf.size} / received ${received} / lost ${lost} / duplicated ${duplicated} / reordered ${reordered}`,
    `subscriber reconnects ${reconnects}`,
    `delivery latency outside fault windows (${latencies.length} samples): p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${latencies.at(-1)} ms`,
    '',
    '## Faults',
    '',
    ...windows.map(
      (w) =>
        `- ${Math.round((w.start - started) / 1000)} s: ${w.fault} (over, settled, after ${Math.round((w.end - w.start) / 1000)} s)`,
    ),
    '',
    '## RSS per node (MiB), every 10 s',
    '',
    '| t (s) | herald1 | herald2 | herald3 |',
    '|---|---|---|---|',
    ...rss.map((r) => `| ${r.t} | ${r.mib.map((m) => m ?? '-').join(' | ')} |`),
    '',
  ];
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);
  const stamp = new Date(started).toISOString().slice(0, 16).replace(':', '-');
  writeFileSync(join(ROOT, 'bench/results', `${stamp}-soak-${MINUTES}m.md`), report);

  for (const s of subs) s.close();
  for (const p of pubs) p.abort();
  await Promise.all(proxies.map((p) => p.close()));
  expect({ lost, duplicated, reordered }).toEqual({ lost: 0, duplicated: 0, reordered: 0 });
});
