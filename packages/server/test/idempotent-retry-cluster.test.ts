import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cluster,
  EsSubscriber,
  PG_URL,
  Publisher,
  REDIS_URL,
  cleanupAll,
  storedEvents,
  storedNotificationKeys,
  token,
} from './cluster-harness.js';
import { waitFor } from './helpers.js';

/**
 * A publish cut by a dying node (the case 6): real nodes behind the real nginx, with
 * PostgreSQL and Redis. A node killed mid-burst leaves nginx answering 502 to publishes it
 * may have stored; each publisher retries with the same Idempotency-Key (through nginx, so
 * on the other node) until it gets a 202. Every event must be stored once, with the id and
 * sequence of its answer, whether the dead node had committed it or not. Printed: sent /
 * acked / received / lost / duplicated, and how long the cut publishes took to be answered.
 * The same holds for notifications (`POST /notifications`): each inbox row stored once.
 */

afterAll(cleanupAll, 60_000);

describe('retries with the same Idempotency-Key after a node is killed mid-request', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({
      nodes: 2,
      databaseUrl: PG_URL,
      redisUrl: REDIS_URL,
      env: { HERALD_IDEMPOTENCY_LEASE_MS: '1000', HERALD_IDEMPOTENCY_WAIT_MS: '5000' },
    });
  }, 60_000);

  /**
   * Two publishers send `count` events each over `channels` by `route`; node `victim` is
   * killed once both have 150 acknowledged. Checks nothing is lost, stored twice or received
   * twice, and that every stored event has the id and sequence of its answer.
   */
  async function cutBurst(
    route: 'publish' | 'notifications',
    channels: readonly string[],
    victim: number,
  ): Promise<void> {
    const sub = new EsSubscriber(
      'watcher',
      channels,
      cluster.url,
      await token('watcher', channels),
    ).open();
    await waitFor(() => sub.connects === 1, 10_000, 'subscriber');
    // Keys are `<name>-<i>`: names of their own per route, so no key meets another body.
    const publishers = ['p1', 'p2'].map(
      (n) => new Publisher(`${route}-${n}`, [cluster.url], true, route),
    );
    const count = 800;
    const run = Promise.all(
      publishers.map((p, i) => p.run(count, channels, { seed: 60 + i, concurrency: 16 })),
    );
    try {
      await waitFor(() => publishers.every((p) => p.ackedCount >= 150), 60_000, 'publishing');
      expect(await cluster.node(victim).stop('SIGKILL')).toBe(null);
      const killedAt = Date.now();
      await run;
      const stored = await storedEvents(cluster.databaseUrl, cluster.schema, channels);
      const storedKeys = [...stored.values()].flat().map((r) => r.key);
      const storedOnce = new Set(storedKeys);
      await waitFor(
        () => [...sub.got.values()].reduce((n, k) => n + k.length, 0) >= storedKeys.length,
        30_000,
        'the subscriber to catch up',
      );
      const received = new Set([...sub.got.values()].flat());
      const acked = publishers.flatMap((p) => [...p.acked.keys()]);
      const lost = acked.filter((k) => !storedOnce.has(k) || !received.has(k));
      const duplicated = storedKeys.length - storedOnce.size;
      const rows =
        route === 'notifications'
          ? await storedNotificationKeys(cluster.databaseUrl, cluster.schema, channels)
          : [];
      const rowsTwice = rows.length - new Set(rows).size;
      const unknown = publishers.reduce((n, p) => n + p.unknown.size, 0);
      const retried = publishers.flatMap((p) => [...p.retried.values()]);
      const waits = retried.map((r) => r.ackedAt - r.cutAt).sort((a, b) => a - b);
      const lastRetryAckMs = Math.max(...retried.map((r) => r.ackedAt)) - killedAt;
      const survivor = cluster.node(1 - victim).proc?.output ?? '';
      const takenOver = (survivor.match(/idempotency claim taken over/g) ?? []).length;
      const receivedTwice = [...sub.got.values()].reduce(
        (n, got) => n + got.length - new Set(got).size,
        0,
      );
      console.log(
        `idempotent retry (${route}): sent ${2 * count} / acked ${acked.length} / received ${received.size} / ` +
          `lost ${lost.length} / duplicated ${duplicated} / received twice ${receivedTwice}` +
          (route === 'notifications' ? ` / inbox rows ${rows.length}, twice ${rowsTwice}` : '') +
          ` (${unknown} publishes cut, ${retried.length} retried to a 202, ${takenOver} claims taken over on the survivor so far; cut to ack ` +
          `median ${waits[Math.floor(waits.length / 2)]} ms, max ${waits[waits.length - 1]} ms; ` +
          `last retry acked ${lastRetryAckMs} ms after the kill)`,
      );
      expect(acked).toHaveLength(2 * count);
      expect(unknown).toBeGreaterThan(0);
      expect({ lost: lost.length, duplicated, receivedTwice, rowsTwice }).toEqual({
        lost: 0,
        duplicated: 0,
        receivedTwice: 0,
        rowsTwice: 0,
      });
      if (route === 'notifications') expect(rows).toHaveLength(2 * count);
      // Every acknowledged key is stored once, with the id and sequence its answer named: a
      // retry that resumed a dead node's publish answered what that node would have.
      const rowOf = new Map([...stored.values()].flat().map((r) => [r.key, r]));
      for (const p of publishers) {
        for (const [k, a] of p.acked) {
          expect({ id: rowOf.get(k)?.id, seq: rowOf.get(k)?.seq }).toEqual({
            id: a.id,
            seq: a.seq,
          });
        }
      }
    } finally {
      sub.close();
      for (const p of publishers) p.abort();
    }
  }

  it('get the original answer, or take the key over after the lease: nothing lost or doubled', async () => {
    await cutBurst('publish', ['idem:0', 'idem:1', 'idem:2', 'idem:3'], 0);
  }, 150_000);

  it('do the same for notifications: each inbox row and its event stored once', async () => {
    await cluster.node(0).start();
    await cutBurst('notifications', ['idem-feed:0', 'idem-feed:1'], 1);
  }, 150_000);
});
