import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  COMPOSE_FILE,
  Cluster,
  EsSubscriber,
  NGINX_TEMPLATE,
  PG_URL,
  PrivatePostgres,
  PrivateRedis,
  Publisher,
  REDIS_URL,
  RawSubscriber,
  TEST_ONLY_ENV,
  cleanupAll,
  expectExactDelivery,
  httpGet,
  nodeEnv,
  renderNginxSite,
  rng,
  token,
  type Subscriber,
} from './cluster-harness.js';
import { RawSse } from './sse-client.js';
import { waitFor } from './helpers.js';

/**
 * Several Herald processes behind a real nginx, with real Redis and PostgreSQL, under
 * failures: random client drops, a node killed, Redis restarted, PostgreSQL stopped, and a
 * rolling restart. Every case checks the same thing at the end: each subscriber received
 * exactly what the store holds for its channels, in sequence order, with no duplicate, and
 * every acknowledged publish is in the store.
 */

afterAll(cleanupAll, 60_000);

// What a test started: stopped after it whatever happened, so a failure never spills into
// the next test (publishers still running, streams still open).
const live: { subs: Subscriber[]; pubs: Publisher[]; timers: NodeJS.Timeout[] } = {
  subs: [],
  pubs: [],
  timers: [],
};
afterEach(() => {
  for (const t of live.timers.splice(0)) clearInterval(t);
  for (const p of live.pubs.splice(0)) p.abort();
  for (const s of live.subs.splice(0)) s.close();
});

function publisher(name: string, targets: readonly string[], idempotent = true): Publisher {
  const p = new Publisher(name, targets, idempotent);
  live.pubs.push(p);
  return p;
}

function channelsOf(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}:${i}`);
}

/** Each subscriber listens to a random subset of the channels (never empty). */
async function subscribers(
  url: string,
  prefix: string,
  channels: readonly string[],
  counts: { es: number; raw: number },
  seed: number,
  perSub = 6,
): Promise<Subscriber[]> {
  const random = rng(seed);
  const subs: Subscriber[] = [];
  for (let i = 0; i < counts.es + counts.raw; i++) {
    const mine = new Set<string>();
    while (mine.size < Math.min(perSub, channels.length)) {
      mine.add(channels[Math.floor(random() * channels.length)]!);
    }
    const list = [...mine].sort();
    const t = await token(`u${i}`, [`${prefix}:*`]);
    subs.push(
      i < counts.es
        ? new EsSubscriber(`es${i}`, list, url, t).open()
        : new RawSubscriber(`raw${i}`, list, url, t).start(),
    );
  }
  live.subs.push(...subs);
  await waitFor(() => subs.every((s) => s.connects >= 1), 20_000, 'subscribers to connect');
  return subs;
}

/** Drops a random subscriber every `everyMs` until stopped; it resumes after 0-150 ms. */
function chaos(subs: readonly Subscriber[], everyMs: number, seed: number) {
  const random = rng(seed);
  let drops = 0;
  const timer = setInterval(() => {
    const s = subs[Math.floor(random() * subs.length)]!;
    if (s.connected) {
      s.drop(Math.floor(random() * 150));
      drops++;
    }
  }, everyMs);
  live.timers.push(timer);
  return {
    stop: () => {
      clearInterval(timer);
      return drops;
    },
  };
}

function closeAll(subs: readonly Subscriber[]) {
  for (const s of subs) s.close();
}

describe('deploy/ stays in step with the tests', () => {
  it('renders nginx from deploy/nginx/herald.conf and the compose nodes use the same settings', () => {
    const template = readFileSync(NGINX_TEMPLATE, 'utf8');
    const site = renderNginxSite(template, '127.0.0.1:1234', ['127.0.0.1:1', '127.0.0.1:2']);
    expect(site).toContain('listen 127.0.0.1:1234;');
    expect(site).toMatch(/server 127\.0\.0\.1:1 max_fails=\d+ fail_timeout=\w+;/);
    expect(site).not.toContain('herald1:8080');
    for (const setting of [
      'proxy_buffering off;',
      'proxy_http_version 1.1;',
      'proxy_set_header Connection "";',
      'proxy_next_upstream error timeout;',
    ]) {
      expect(site).toContain(setting);
    }
    // The read timeout of streams is above the heartbeat the nodes are given.
    const read = /location \/events \{[\s\S]*?proxy_read_timeout (\d+)s;/.exec(site);
    expect(Number(read?.[1]) * 1000).toBeGreaterThan(
      Number(
        nodeEnv({ databaseUrl: '', schema: '', redisUrl: '', prefix: '' }).HERALD_HEARTBEAT_MS,
      ),
    );

    const compose = readFileSync(COMPOSE_FILE, 'utf8');
    expect(compose).toContain('./nginx/herald.conf:/etc/nginx/conf.d/default.conf');
    for (const n of ['herald1', 'herald2', 'herald3']) expect(compose).toContain(`${n}:`);
    const env = nodeEnv({ databaseUrl: '', schema: '', redisUrl: '', prefix: '' });
    for (const key of Object.keys(env)) {
      expect(TEST_ONLY_ENV).not.toContain(key);
      expect(compose, `compose.yaml sets ${key}`).toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    }
  });
});

describe('a cluster of 3 nodes behind nginx (machine Redis and PostgreSQL)', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ databaseUrl: PG_URL, redisUrl: REDIS_URL });
  }, 60_000);

  it('clients on different nodes all receive events published on any node', async () => {
    const t = await token('alice', ['fan:*']);
    const channel = 'fan:room';
    // One raw client on each node directly, one through nginx.
    const clients = await Promise.all(
      [...cluster.nodes.map((n) => n.url), cluster.url].map((u) =>
        RawSse.open(`${u}/events?channels=${channel}`, { authorization: `Bearer ${t}` }),
      ),
    );
    try {
      await waitFor(() => clients.every((c) => c.of('connected').length === 1));
      for (const node of cluster.nodes) {
        // A publisher per node: the event enters the cluster there.
        await publisher(`from-${node.name}`, [node.url]).publishOne(channel, node.name);
      }
      await waitFor(
        () => clients.every((c) => c.of('tick').length === 3),
        10_000,
        'every client to get the 3 events',
      );
      for (const c of clients) {
        expect(c.of('tick').map((e) => JSON.parse(e.data).k)).toEqual([
          'herald1',
          'herald2',
          'herald3',
        ]);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('soak: 2 publishers on different nodes x 5,000 durable events, subscribers dropping at random and resuming on any node', async () => {
    const channels = channelsOf('soak', 40);
    const subs = await subscribers(cluster.url, 'soak', channels, { es: 8, raw: 4 }, 7);
    // No Idempotency-Key needed: nothing fails here, every attempt is answered.
    const publishers = [
      publisher('p1', [cluster.node(0).url], false),
      publisher('p2', [cluster.node(1).url], false),
    ];
    const drops = chaos(subs, 60, 11);
    const t0 = Date.now();
    await Promise.all(
      publishers.map((p, i) => p.run(5000, channels, { seed: 100 + i, concurrency: 32 })),
    );
    const publishMs = Date.now() - t0;
    const dropped = drops.stop();
    try {
      await expectExactDelivery(cluster, subs, publishers, channels);
    } finally {
      closeAll(subs);
    }
    expect(publishers.map((p) => p.ackedCount)).toEqual([5000, 5000]);
    expect(publishers.flatMap((p) => [...p.unknown])).toEqual([]);
    expect(dropped).toBeGreaterThan(20);
    const reconnects = subs.reduce((n, s) => n + s.connects, 0) - subs.length;
    expect(reconnects).toBeGreaterThan(20);
    console.log(
      `soak: 10,000 events in ${publishMs} ms (${Math.round(10_000_000 / publishMs)}/s), ${dropped} drops, ${reconnects} resumes`,
    );
  }, 240_000);

  it('a node killed with SIGKILL mid-stream: its clients resume on the other nodes with nothing lost', async () => {
    const channels = channelsOf('kill', 20);
    const subs = await subscribers(cluster.url, 'kill', channels, { es: 9, raw: 3 }, 21);
    const counts = await Promise.all(cluster.nodes.map((n) => n.connections()));
    const v = counts.indexOf(Math.max(...counts));
    const victim = cluster.node(v);
    expect(counts[v]).toBeGreaterThan(0);
    // Through nginx: publishes in flight on the victim fail (502) and are retried elsewhere.
    // Without Idempotency-Key: a key claimed by the killed node stays claimed for its lease
    // (60 s). So a retried event may be stored twice, which the check allows for exactly
    // those events; subscribers must still receive exactly what is stored.
    const publishers = [
      publisher('k1', [cluster.url], false),
      publisher('k2', [cluster.url], false),
    ];
    const run = Promise.all(
      publishers.map((p, i) => p.run(1500, channels, { seed: 200 + i, concurrency: 16 })),
    );
    try {
      await waitFor(() => publishers.every((p) => p.ackedCount >= 300), 60_000, 'publishing');
      expect(await victim.stop('SIGKILL')).toBe(null);
      await run;
      await expectExactDelivery(cluster, subs, publishers, channels);
    } finally {
      closeAll(subs);
      await cluster.restartStopped();
    }
    // The victim's clients (at least) had to resume on another node.
    const resumed = subs.filter((s) => s.connects > 1).length;
    expect(resumed).toBeGreaterThan(0);
    console.log(
      `kill: ${victim.name} held ${counts[v]} of ${subs.length} streams; ${resumed} resumed; ` +
        `${publishers.reduce((n, p) => n + p.unknown.size, 0)} publishes with an unknown outcome retried`,
    );
  }, 120_000);

  it('rolling restart: SIGTERM one node at a time while publishing; each drains its streams over the window, nothing lost', async () => {
    const windowMs = Number(
      nodeEnv({ databaseUrl: '', schema: '', redisUrl: '', prefix: '' }).HERALD_DRAIN_WINDOW_MS,
    );
    await cluster.restartStopped();
    const channels = channelsOf('roll', 20);
    const subs = await subscribers(cluster.url, 'roll', channels, { es: 14, raw: 7 }, 31);
    let restarting = true;
    const publishers = [publisher('r1', [cluster.url]), publisher('r2', [cluster.url])];
    const run = Promise.all(
      publishers.map((p, i) =>
        p.run(1_000_000, channels, {
          seed: 300 + i,
          concurrency: 4,
          delayMs: 5,
          until: () => !restarting,
        }),
      ),
    );
    const drains: string[] = [];
    try {
      const pending = [...cluster.nodes];
      while (pending.length > 0) {
        await waitFor(() => subs.every((s) => s.connected), 20_000, 'every stream open');
        // The busiest node first: nginx spreads streams unevenly right after a restart.
        const counts = await Promise.all(pending.map((n) => n.connections()));
        const node = pending.splice(counts.indexOf(Math.max(...counts)), 1)[0]!;
        const streams = await node.connections();
        const t0 = Date.now();
        expect(await node.stop('SIGTERM')).toBe(0);
        const took = Date.now() - t0;
        const times = subs.flatMap((s) => s.shutdowns.filter((t) => t >= t0));
        // At least one shutdown per stream (a reconnect that reached the draining node over a
        // kept-alive proxy connection is answered with another shutdown and retry hint).
        expect(times.length).toBeGreaterThanOrEqual(streams);
        if (streams >= 3) {
          // Spread over the window, not all at once: the last stream closes about
          // window * (n - 1) / n after the first.
          const spread = Math.max(...times) - Math.min(...times);
          expect(spread).toBeGreaterThan(0.6 * windowMs * ((streams - 1) / streams));
        }
        drains.push(`${node.name}: ${streams} streams in ${took} ms`);
        await node.start();
      }
    } finally {
      restarting = false;
      await run;
    }
    try {
      await expectExactDelivery(cluster, subs, publishers, channels);
    } finally {
      closeAll(subs);
    }
    const acked = publishers.reduce((n, p) => n + p.ackedCount, 0);
    expect(acked).toBeGreaterThan(300);
    console.log(
      `rolling restart: ${drains.join('; ')}; ${acked} events acknowledged; ` +
        `${publishers.reduce((n, p) => n + p.refusedCount, 0)} publishes refused (503) and retried, ` +
        `${publishers.reduce((n, p) => n + p.unknown.size, 0)} with an unknown outcome`,
    );
  }, 120_000);
});

describe('Redis restarted during publishing (a private redis-server)', () => {
  let redis: PrivateRedis;
  let cluster: Cluster;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
    cluster = await Cluster.start({ databaseUrl: PG_URL, redisUrl: redis.url });
  }, 60_000);

  it('acknowledged publishes made while Redis is down reach every subscriber once it is back', async () => {
    const channels = channelsOf('redis', 20);
    const subs = await subscribers(cluster.url, 'redis', channels, { es: 8, raw: 4 }, 41);
    const drops = chaos(subs, 150, 43);
    let publishing = true;
    const publishers = [
      publisher('d1', [cluster.node(0).url]),
      publisher('d2', [cluster.node(1).url]),
    ];
    const acked = () => publishers.reduce((n, p) => n + p.ackedCount, 0);
    const run = Promise.all(
      publishers.map((p, i) =>
        p.run(1_000_000, channels, {
          seed: 400 + i,
          concurrency: 8,
          until: () => !publishing,
        }),
      ),
    );
    try {
      await waitFor(() => acked() >= 400, 60_000, 'publishing');
      await redis.stop();
      // Durable publishes are still acknowledged: stored first, re-sent to Redis later.
      const during = acked();
      await waitFor(() => acked() >= during + 300, 30_000, 'publishes while Redis is down');
      const ready = await httpGet(`${cluster.node(2).url}/readyz`);
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).broker).toBe('unreachable');
      await redis.start();
      for (const n of cluster.nodes) {
        await waitFor(
          async () => (await httpGet(`${n.url}/readyz`)).status === 200,
          20_000,
          `${n.name} back on Redis`,
        );
      }
      const after = acked();
      await waitFor(() => acked() >= after + 300, 60_000, 'publishing after the restart');
    } finally {
      publishing = false;
      await run;
      drops.stop();
    }
    try {
      await expectExactDelivery(cluster, subs, publishers, channels);
    } finally {
      closeAll(subs);
    }
    expect(publishers.flatMap((p) => [...p.unknown])).toEqual([]);
    console.log(`redis restart: ${acked()} events acknowledged, all delivered`);
  }, 120_000);
});

describe('PostgreSQL stopped and started during publishing (a private PostgreSQL)', () => {
  let pgServer: PrivatePostgres;
  let cluster: Cluster;
  beforeAll(async () => {
    pgServer = await PrivatePostgres.start();
    cluster = await Cluster.start({
      databaseUrl: pgServer.url,
      privateDatabase: true,
      redisUrl: REDIS_URL,
      env: { HERALD_HEARTBEAT_MS: '300' },
    });
  }, 60_000);

  it('publishes and new streams get 503 while it is down, open streams stay open, all recovers', async () => {
    const channels = channelsOf('pg', 12);
    const subs = await subscribers(cluster.url, 'pg', channels, { es: 6, raw: 6 }, 51, 4);
    let publishing = true;
    const publishers = [
      publisher('e1', [cluster.node(0).url]),
      publisher('e2', [cluster.node(1).url]),
    ];
    const acked = () => publishers.reduce((n, p) => n + p.ackedCount, 0);
    const run = Promise.all(
      publishers.map((p, i) =>
        p.run(1_000_000, channels, {
          seed: 500 + i,
          concurrency: 4,
          until: () => !publishing,
        }),
      ),
    );
    const raws = subs.filter((s) => s instanceof RawSubscriber);
    try {
      await waitFor(() => acked() >= 300, 60_000, 'publishing');
      await pgServer.stop();
      const beats = raws.map((s) => s.heartbeats);

      // Publishes fail clearly, and fast.
      await waitFor(
        () => publishers.every((p) => p.refusedCount >= 10),
        20_000,
        'publishes to be refused',
      ).catch((err: Error) => {
        const state = publishers.map(
          (p) =>
            `${p.name}: ${p.ackedCount} acked, ${p.refusedCount} refused, ${p.unknown.size} unknown`,
        );
        throw new Error(`${err.message} (${state.join('; ')})\n${cluster.logs()}`);
      });
      for (const p of publishers) {
        expect([...p.refused.keys()]).toEqual(['HERALD_ERR_STORE_UNAVAILABLE']);
        expect(p.slowestRefusal).toBeLessThan(2000);
      }
      // A new stream is refused with the same code; readiness says why.
      const t = await token('late', ['pg:*']);
      const stream = await httpGet(`${cluster.url}/events?channels=pg:0`, {
        authorization: `Bearer ${t}`,
      });
      expect(stream.status).toBe(503);
      expect(JSON.parse(stream.body).error.code).toBe('HERALD_ERR_STORE_UNAVAILABLE');
      const ready = await httpGet(`${cluster.node(0).url}/readyz`);
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).store).toBe('unreachable');
      // Open streams stay open: heartbeats keep coming on the same connections.
      await waitFor(
        () => raws.every((s, i) => s.heartbeats >= beats[i]! + 3),
        20_000,
        'heartbeats during the outage',
      );
      expect(subs.map((s) => s.connects)).toEqual(subs.map(() => 1));

      await pgServer.start();
      const after = acked();
      await waitFor(() => acked() >= after + 300, 60_000, 'publishing after the restart');
    } finally {
      publishing = false;
      await run;
    }
    try {
      await expectExactDelivery(cluster, subs, publishers, channels);
    } finally {
      closeAll(subs);
    }
    // The streams opened before the outage carried everything: none had to reconnect.
    expect(subs.map((s) => s.connects)).toEqual(subs.map(() => 1));
    console.log(
      `postgres outage: ${publishers.reduce((n, p) => n + p.refusedCount, 0)} publishes refused with 503, ` +
        `${acked()} acknowledged and delivered`,
    );
  }, 120_000);
});
