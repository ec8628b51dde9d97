import { execFileSync } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Cluster,
  HeraldNode,
  PG_URL,
  Publisher,
  REDIS_URL,
  RawSubscriber,
  cleanupAll,
  expectExactDelivery,
  freePort,
  httpGet,
  nodeEnv,
  onCleanup,
  postJson,
  tempDir,
  token,
  type Subscriber,
} from './cluster-harness.js';
import { waitFor } from './helpers.js';
import { outageProxy } from './outage-proxy.js';

/**
 * The fault suite: real `herald serve` processes, real SQLite files, Redis, PostgreSQL and
 * nginx, and one fault each. Every event carries its publisher's sequence number (`k`), and
 * every case prints sent / acked / received / lost / duplicated, then checks that nothing
 * acknowledged was lost or delivered twice. The windows are short (seconds) so that the whole
 * suite runs in CI; docs/operations.md ("Failure modes") gives the recovery times measured here.
 */

afterAll(cleanupAll, 60_000);

const live: { subs: Subscriber[]; pubs: Publisher[] } = { subs: [], pubs: [] };
afterEach(() => {
  for (const p of live.pubs.splice(0)) p.abort();
  for (const s of live.subs.splice(0)) s.close();
});

function publisher(name: string, targets: readonly string[]): Publisher {
  const p = new Publisher(name, targets);
  live.pubs.push(p);
  return p;
}

async function rawSubscribers(
  n: number,
  base: string,
  channels: readonly string[],
  prefix: string,
): Promise<RawSubscriber[]> {
  const subs: RawSubscriber[] = [];
  for (let i = 0; i < n; i++) {
    const t = await token(`u${i}`, [`${prefix}:*`]);
    subs.push(new RawSubscriber(`${prefix}-sub${i}`, channels, base, t).start());
  }
  live.subs.push(...subs);
  await waitFor(() => subs.every((s) => s.connects >= 1), 20_000, 'subscribers to connect');
  return subs;
}

interface Counts {
  sent: number;
  acked: number;
  received: number;
  lost: number;
  duplicated: number;
  /** Received out of acknowledged-sequence order. */
  reordered: number;
}

/**
 * Compares what subscribers received with what was acknowledged. Lost: an acknowledged event
 * that a subscriber of its channel never got. Duplicated: an event a subscriber got twice.
 * Reordered: an acknowledged event received after one with a higher sequence on its channel.
 */
function countDelivery(pubs: readonly Publisher[], subs: readonly Subscriber[]): Counts {
  const acked = new Map<string, { seq: number; channel: string }>();
  for (const p of pubs) for (const [k, a] of p.acked) acked.set(k, a);
  const counts: Counts = {
    sent: pubs.reduce((n, p) => n + p.sent, 0),
    acked: acked.size,
    received: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
  };
  for (const s of subs) {
    for (const c of s.channels) {
      const got = s.got.get(c) ?? [];
      counts.received += got.length;
      const seen = new Set(got);
      counts.duplicated += got.length - seen.size;
      for (const [k, a] of acked) if (a.channel === c && !seen.has(k)) counts.lost++;
      let last = 0;
      for (const k of got) {
        const seq = acked.get(k)?.seq;
        if (seq === undefined) continue;
        if (seq < last) counts.reordered++;
        last = Math.max(last, seq);
      }
    }
  }
  return counts;
}

function report(fault: string, counts: Counts, extra: Record<string, number | string> = {}) {
  const fields = { ...counts, ...extra };
  const line = Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join(' / ');
  process.stdout.write(`fault ${fault}: ${line}\n`);
}

function expectNothingLost(counts: Counts): void {
  expect({ lost: counts.lost, duplicated: counts.duplicated, reordered: counts.reordered }).toEqual(
    { lost: 0, duplicated: 0, reordered: 0 },
  );
  expect(counts.acked).toBeGreaterThan(0);
}

function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

/** A single node on SQLite (no database URL, no Redis): the embedded default. */
function sqliteEnv(): Record<string, string> {
  const env = nodeEnv(
    { databaseUrl: '', schema: '', redisUrl: '', prefix: '' },
    { HERALD_HEARTBEAT_MS: '1000' },
  );
  for (const k of [
    'HERALD_DATABASE_URL',
    'HERALD_DATABASE_SCHEMA',
    'HERALD_REDIS_URL',
    'HERALD_REDIS_PREFIX',
  ]) {
    delete env[k];
  }
  return env;
}

/** A stream on `channels` that replays from the cursor `from` (a `connected` id). */
async function replayFrom(
  base: string,
  channels: readonly string[],
  prefix: string,
  from: string,
): Promise<RawSubscriber> {
  const replay = new RawSubscriber(
    `${prefix}-replay`,
    channels,
    base,
    await token('r', [`${prefix}:*`]),
  );
  replay.lastId = from;
  live.subs.push(replay);
  return replay.start();
}

/**
 * Mounts a tmpfs of `size` on `dir`, owned by this process, and unmounts it at cleanup. As
 * root directly, otherwise through `sudo -n` (CI machines that install packages have it).
 */
function mountTmpfs(dir: string, size: string): void {
  const opts = `size=${size},uid=${process.getuid?.() ?? 0},gid=${process.getgid?.() ?? 0}`;
  const asRoot = process.getuid?.() === 0;
  const run = (args: string[]) =>
    asRoot
      ? execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' })
      : execFileSync('sudo', ['-n', ...args], { stdio: 'pipe' });
  try {
    run(['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  } catch (err) {
    throw new Error('the disk-full case mounts a small tmpfs: it needs root or sudo -n', {
      cause: err,
    });
  }
  onCleanup(() => {
    run(['umount', '-l', dir]);
  });
}

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await httpGet(`${url}/readyz`);
  return { status: r.status, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
}

describe('a single SQLite node', () => {
  it('SIGKILL mid-burst: every acknowledged event is there after the restart, in order, once', async () => {
    const dir = tempDir('herald-sqlite-kill-');
    const node = new HeraldNode('sqlite-kill', await freePort(), sqliteEnv(), [], dir);
    await node.start();
    const channels = ['kill:0', 'kill:1', 'kill:2'];
    const [sub] = await rawSubscribers(1, node.url, channels, 'kill');
    const start = sub!.lastId!;
    const pub = publisher('kill', [node.url]);
    const burst = pub.run(600, channels, { seed: 11, concurrency: 16 });
    await waitFor(() => pub.ackedCount >= 150, 30_000, 'a quarter of the burst');
    await node.stop('SIGKILL');
    const killedAt = Date.now();
    await node.start();
    const restartMs = Date.now() - killedAt;
    await burst;
    const retried = [...pub.retried.values()];
    const lastRetryAckMs = Math.max(0, ...retried.map((r) => r.ackedAt)) - killedAt;

    const replay = await replayFrom(node.url, channels, 'kill', start);
    const all = [sub!, replay];
    await waitFor(
      () => countDelivery([pub], all).lost === 0,
      30_000,
      'the live stream and the replay to hold every acknowledged event',
    );
    const counts = countDelivery([pub], all);
    report('sigkill-sqlite', counts, {
      restartMs,
      unknownOutcome: pub.unknown.size,
      lastRetryAckMs,
    });
    expectNothingLost(counts);
    expect(pub.ackedCount).toBe(600);
    // Each event is stored once, with the id and sequence of its answer: a retry of a publish
    // the killed process had committed answered what that process would have.
    const db = new Database(join(dir, 'herald.db'), { readonly: true });
    try {
      const rows = db
        .prepare<[], { channel: string; seq: number; id: string; data: string }>(
          `SELECT channel, seq, id, data FROM events WHERE channel LIKE 'kill:%'`,
        )
        .all();
      const byKey = new Map<string, { id: string; seq: number }[]>();
      for (const r of rows) {
        const { k } = JSON.parse(r.data) as { k: string };
        byKey.set(k, [...(byKey.get(k) ?? []), { id: r.id, seq: r.seq }]);
      }
      expect([...byKey.values()].filter((copies) => copies.length > 1)).toEqual([]);
      for (const [k, a] of pub.acked) expect(byKey.get(k)).toEqual([{ id: a.id, seq: a.seq }]);
    } finally {
      db.close();
    }
  });

  it('disk full: 503 and not ready, streams stay up, recovery without a restart', async () => {
    // A file system of its own, small enough to fill: the data directory on a tmpfs.
    const dir = tempDir('herald-full-');
    mountTmpfs(dir, '24m');
    const node = new HeraldNode('sqlite-full', await freePort(), sqliteEnv(), [], dir);
    await node.start();
    const pid = node.proc!.child.pid;
    const channels = ['full:0', 'full:1'];
    const [sub] = await rawSubscribers(1, node.url, channels, 'full');
    const start = sub!.lastId!;

    const pub = publisher('full', [node.url]);
    await pub.run(40, channels, { seed: 5, concurrency: 4 });

    // Fill the file system to the last block.
    const filler = join(dir, 'filler');
    const fd = openSync(filler, 'w');
    for (const size of [1 << 20, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
    closeSync(fd);

    // Publish (4 KiB each) until the store refuses: every 202 must be stored, every refusal a
    // 503 with the documented code, and /readyz not ready right after the first one.
    const agent = new Agent({ keepAlive: true });
    onCleanup(() => agent.destroy());
    const pad = 'x'.repeat(4096);
    let refused = 0;
    let readyAfterRefusal: { status: number; body: Record<string, unknown> } | undefined;
    let readyMs = 0;
    for (let i = 0; i < 2000 && refused < 5; i++) {
      const key = `full-late-${i}`;
      const channel = channels[i % channels.length]!;
      pub.sent++;
      const r = await postJson(
        `${node.url}/publish`,
        { channel, type: 'tick', data: { c: channel, k: key, pad } },
        agent,
      );
      if (r.status === 202) {
        pub.acked.set(key, { seq: r.body.events[0].seq as number, key, channel });
        continue;
      }
      expect({ status: r.status, code: r.body?.error?.code }).toEqual({
        status: 503,
        code: 'HERALD_ERR_STORE_UNAVAILABLE',
      });
      if (refused++ === 0) {
        const t0 = Date.now();
        readyAfterRefusal = await readyz(node.url);
        readyMs = Date.now() - t0;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(readyAfterRefusal?.status).toBe(503);
    expect(readyAfterRefusal?.body['store']).toBe('unreachable');
    expect(readyMs).toBeLessThan(1000);
    // The open stream stays up through the fault (its heartbeats keep coming).
    const beats = sub!.heartbeats;
    await waitFor(() => sub!.heartbeats > beats, 5000, 'a heartbeat while the disk is full');
    expect(sub!.connects).toBe(1);

    // Free the space: ready again and publishing again, same process.
    unlinkSync(filler);
    const freedAt = Date.now();
    await waitFor(async () => (await readyz(node.url)).status === 200, 10_000, 'ready again');
    const recoveryMs = Date.now() - freedAt;
    const after = publisher('full-after', [node.url]);
    await after.run(40, channels, { seed: 6 });
    expect(after.ackedCount).toBe(40);
    expect(node.proc!.child.pid).toBe(pid);
    expect(node.running).toBe(true);

    const replay = await replayFrom(node.url, channels, 'full', start);
    const all = [sub!, replay];
    await waitFor(
      () => countDelivery([pub, after], all).lost === 0,
      20_000,
      'every acknowledged event',
    );
    const counts = countDelivery([pub, after], all);
    report('disk-full', counts, { refused, readyMs, recoveryMs });
    expectNothingLost(counts);
    expect(sub!.connects).toBe(1);
    expect(node.proc!.output).not.toContain('checkpoint thread failed');
  });
});

describe('a cluster of three behind nginx', () => {
  let cluster: Cluster;
  let redisProxy: Awaited<ReturnType<typeof outageProxy>>;
  const NGINX_STREAM_TIMEOUT_S = 3;

  beforeAll(async () => {
    // The first node reaches Redis through a proxy that the partition case stalls.
    redisProxy = await outageProxy(REDIS_URL);
    onCleanup(() => redisProxy.close());
    cluster = await Cluster.start({
      databaseUrl: PG_URL,
      redisUrl: REDIS_URL,
      env: { HERALD_HEARTBEAT_MS: '1000' },
      nodeEnv: (i): Record<string, string> => (i === 0 ? { HERALD_REDIS_URL: redisProxy.url } : {}),
      streamReadTimeoutS: NGINX_STREAM_TIMEOUT_S,
    });
  }, 60_000);

  it('a node paused (SIGSTOP, SIGCONT) while the others publish: its streams end with no gap', async () => {
    const paused = cluster.node(1);
    const channels = ['pause:0', 'pause:1', 'pause:2', 'pause:3'];
    const subs = await rawSubscribers(3, paused.url, channels, 'pause');
    const pub = publisher('pause', [cluster.node(0).url, cluster.node(2).url]);
    // Stopped by `until`, not `abort`: publishes in flight then finish before the store is read,
    // so none can commit (and reach a subscriber) after the snapshot the check compares with.
    let stopping = false;
    const run = pub.run(100_000, channels, {
      seed: 3,
      concurrency: 4,
      delayMs: 5,
      until: () => stopping,
    });
    await waitFor(() => pub.ackedCount >= 50, 20_000, 'publishing to start');
    paused.proc!.signal('SIGSTOP');
    let resumedAt: number;
    try {
      const at = pub.ackedCount;
      const stoppedAt = Date.now();
      await waitFor(
        () => pub.ackedCount >= at + 200 && Date.now() - stoppedAt >= 2000,
        20_000,
        'publishes during a 2 s pause',
      );
    } finally {
      paused.proc!.signal('SIGCONT');
      resumedAt = Date.now();
    }
    const more = pub.ackedCount;
    await waitFor(() => pub.ackedCount >= more + 50, 20_000, 'publishes after the pause');
    stopping = true;
    await run;
    await expectExactDelivery(cluster, subs, [pub], channels, 30_000);
    const catchUpMs = Date.now() - resumedAt;
    const counts = countDelivery([pub], subs);
    report('sigstop', counts, { catchUpMs });
    expectNothingLost(counts);
  });

  it('node-Redis partition: noticed, publishes answered at once, no gap after it heals', async () => {
    const cut = cluster.node(0);
    const channels = ['part:0', 'part:1', 'part:2'];
    const subs = await rawSubscribers(3, cut.url, channels, 'part');
    const onCut = publisher('part-cut', [cut.url]);
    const other = publisher('part-other', [cluster.node(2).url]);
    // Stopped by `until` (see the pause case): the store is read once nothing is in flight.
    let stopping = false;
    const until = () => stopping;
    const runs = [
      onCut.run(100_000, channels, { seed: 7, concurrency: 2, delayMs: 10, until }),
      other.run(100_000, channels, { seed: 8, concurrency: 2, delayMs: 10, until }),
    ];
    await waitFor(() => onCut.ackedCount >= 30 && other.ackedCount >= 30, 20_000, 'publishing');

    const logBefore = cut.proc!.output.length;
    const latencyFrom = onCut.latencies.length;
    redisProxy.stall();
    const stalledAt = Date.now();
    let notReadyMs: number;
    let noticedMs: number;
    try {
      await waitFor(async () => (await readyz(cut.url)).status === 503, 10_000, 'not ready');
      notReadyMs = Date.now() - stalledAt;
      await waitFor(
        () => cut.proc!.output.slice(logBefore).includes('broker unavailable'),
        15_000,
        'the node to report the broker unavailable',
      );
      noticedMs = Date.now() - stalledAt;
      // A while longer cut off, publishing on both sides.
      const at = onCut.ackedCount;
      await waitFor(() => onCut.ackedCount >= at + 100, 20_000, 'publishes while cut off');
    } finally {
      redisProxy.restore();
    }
    const healedAt = Date.now();
    const stallLatencies = onCut.latencies.slice(latencyFrom);
    const more = onCut.ackedCount;
    await waitFor(() => onCut.ackedCount >= more + 30, 20_000, 'publishes after the heal');
    stopping = true;
    await Promise.all(runs);
    await expectExactDelivery(cluster, subs, [onCut, other], channels, 30_000);
    const catchUpMs = Date.now() - healedAt;
    await waitFor(async () => (await readyz(cut.url)).status === 200, 15_000, 'ready again');
    const counts = countDelivery([onCut, other], subs);
    const publishP99Ms = p99(stallLatencies);
    report('redis-partition', counts, {
      notReadyMs,
      noticedMs,
      catchUpMs,
      publishP99Ms,
      publishesWhileCut: stallLatencies.length,
    });
    expectNothingLost(counts);
    // The node finds out by itself: the subscriber connection's PING (every second) times out
    // after the broker's 5 s command timeout.
    expect(noticedMs).toBeLessThan(10_000);
    // A bound on a fault, not a timing benchmark: the stored event's answer no longer waits
    // for the broker (it waited out the 5 s command timeout before).
    expect(stallLatencies.length).toBeGreaterThan(50);
    expect(publishP99Ms).toBeLessThan(100);
  });

  it('idle through nginx: a stream outlives the proxy read timeout, then events arrive in < 1 s', async () => {
    const channels = ['idle:0'];
    const [sub] = await rawSubscribers(1, cluster.url, channels, 'idle');
    // Silence (no events) for twice nginx's stream read timeout: the heartbeats keep it up.
    const beats = sub!.heartbeats;
    await new Promise((r) => setTimeout(r, 2 * NGINX_STREAM_TIMEOUT_S * 1000 + 500));
    expect(sub!.connects).toBe(1);
    expect(sub!.connected).toBe(true);
    expect(sub!.heartbeats).toBeGreaterThan(beats);

    const pub = publisher('idle', [cluster.url]);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      await pub.publishOne('idle:0', `idle-${i}`);
      await waitFor(() => (sub!.got.get('idle:0')?.length ?? 0) > i, 5000, 'the event');
      delays.push(Date.now() - t0);
    }
    const counts = countDelivery([pub], [sub!]);
    report('idle-nginx', counts, {
      idleS: 2 * NGINX_STREAM_TIMEOUT_S,
      worstDeliveryMs: Math.max(...delays),
    });
    expectNothingLost(counts);
    expect(sub!.connects).toBe(1);
    expect(Math.max(...delays)).toBeLessThan(1000);
  });
});
