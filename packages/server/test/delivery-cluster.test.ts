import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { call, notify } from './delivery-helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

/**
 * Two nodes on one PostgreSQL schema share one outbox: every job is sent by exactly one of
 * them (FOR UPDATE SKIP LOCKED and the lease). How the work splits between them is not
 * asserted (either node may claim every batch); the sum of their counters is.
 */
describe('the outbox in a cluster', () => {
  const schema = uniqueSchema('herald_delivery_cluster');
  let nodes: TestServer[];
  let receiver: Server;
  let base: string;
  const accepted = new Map<string, number>();
  const byNode = new Map<string, number>();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const id = String(req.headers['herald-webhook-id']);
        accepted.set(id, (accepted.get(id) ?? 0) + 1);
        // Slow enough that both nodes' passes overlap.
        setTimeout(() => res.writeHead(204).end(), 5);
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    const config = {
      databaseUrl: PG_URL,
      databaseSchema: schema,
      deliveryAllowedAddresses: ['127.0.0.1'],
      deliveryPollIntervalMs: 50,
    };
    nodes = [await startServer(config), await startServer(config)];
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await new Promise((r) => receiver.close(r));
    await dropSchema(schema);
  });

  it('sends each of 200 deliveries once, from whichever node claimed it', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    // Both nodes get the VAPID keys the first one generated.
    const ka = (await call(a, 'GET', '/push/vapid-public-key', 'key')).body.publicKey;
    expect((await call(b, 'GET', '/push/vapid-public-key', 'key')).body.publicKey).toBe(ka);
    for (let u = 0; u < 4; u++) {
      for (let h = 0; h < 2; h++) {
        const r = await call(a, 'POST', '/delivery/webhooks', await a.token(`cl${u}`), {
          url: `${base}/u${u}/h${h}`,
        });
        expect(r.status).toBe(201);
      }
    }
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      for (let u = 0; u < 4; u++)
        ids.push(await notify(i % 2 ? a : b, `cl${u}`, { title: `n${i}` }));
    }
    await waitFor(() => accepted.size === 200, 30_000, '200 deliveries');
    await waitFor(
      async () => {
        const r = await call(a, 'GET', '/admin/delivery/stats', 'key');
        return (
          r.body.jobs.find(
            (j: { channel: string; state: string }) =>
              j.channel === 'webhook' && j.state === 'sent',
          )?.count === 200
        );
      },
      10_000,
      'all marked sent',
    );
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
    for (const n of nodes) {
      const metrics = await (
        await fetch(`${n.url}/metrics`, {
          headers: { 'x-herald-key': 'test-api-key-0123456789abcdef' },
        })
      ).text();
      const m =
        /herald_delivery_events_total\{channel="webhook",category="",counter="delivered"\} (\d+)/.exec(
          metrics,
        );
      byNode.set(n.url, Number(m?.[1] ?? 0));
    }
    expect([...byNode.values()].reduce((x, y) => x + y, 0)).toBe(200);
    expect(ids).toHaveLength(100);
    console.log('deliveries per node:', [...byNode.values()].join(' + '));
  });
});
