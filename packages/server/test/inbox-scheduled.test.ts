import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

describe('scheduled delivery', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('holds a notification until deliverAt, across a real restart on the same data', async () => {
    // The first server's scheduler looks only once, at start: nothing it holds falls due
    // while it runs, so what is delivered below was delivered by the second server.
    const a = await startServer({ inboxSchedulerIntervalMs: 3_600_000 }, { keepData: true });
    const { dataDir, port } = a;
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const token = await a.token('quinn');
    const before = await RawSse.open(`${a.url}/events/quinn`, { authorization: `Bearer ${token}` });
    await waitFor(() => before.of('connected').length === 1);
    const cursor = before.lastId!;

    const t0 = Date.now();
    const dueWhileDown = t0 + 300;
    const dueAfterRestart = t0 + 3000;
    const r1 = await a.post('/notify/quinn', {
      title: 'Due while down',
      message: 'm',
      deliverAt: new Date(dueWhileDown).toISOString(),
    });
    const r2 = await a.post('/notify/quinn', {
      title: 'Due after restart',
      message: 'm',
      deliverAt: dueAfterRestart,
    });
    for (const r of [r1, r2]) {
      expect(r.status).toBe(202);
      expect(r.body.events).toEqual([]);
      expect(r.body.notifications[0]).toMatchObject({
        status: 'scheduled',
        deliverAt: expect.any(String),
      });
    }
    const early = await fetch(`${a.url}/notifications`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(((await early.json()) as any).notifications).toEqual([]);
    before.close();
    await a.close();

    await waitFor(() => Date.now() > dueWhileDown + 50, 5000, 'the first one to fall due');
    const b: TestServer = await startServer({ dataDir, port, inboxSchedulerIntervalMs: 50 });
    cleanup.push(() => b.close());
    const after = await RawSse.open(`${b.url}/events/quinn`, {
      authorization: `Bearer ${token}`,
      'last-event-id': cursor,
    });
    cleanup.push(() => after.close());
    const arrived = new Map<string, number>();
    await waitFor(
      () => {
        for (const e of after.of('notification')) {
          const title = JSON.parse(e.data).title as string;
          if (!arrived.has(title)) arrived.set(title, Date.now());
        }
        return arrived.size === 2;
      },
      10_000,
      'both scheduled notifications',
    );
    expect(after.of('notification').map((e) => JSON.parse(e.data).title)).toEqual([
      'Due while down',
      'Due after restart',
    ]);
    expect(arrived.get('Due after restart')!).toBeGreaterThanOrEqual(dueAfterRestart);
    const list = await fetch(`${b.url}/notifications`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const rows = ((await list.json()) as any).notifications;
    expect(rows.map((n: any) => [n.title, n.status])).toEqual([
      ['Due after restart', 'delivered'],
      ['Due while down', 'delivered'],
    ]);
    expect(Date.parse(rows[0].createdAt)).toBeGreaterThanOrEqual(dueAfterRestart);
  });
});
