import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PublishPlan, planKey, plannedNotificationId } from '../src/hub/publish-plan.js';
import type { SendResult } from '../src/inbox/service.js';
import { startServer, type TestServer } from './helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

/**
 * A send retried under an Idempotency-Key after the node running it died
 * (`InboxService.send` with a resumed plan): the first attempt's mark says what it did, and
 * the retry answers the same and stores nothing twice, on both stores. The cluster test
 * (idempotent-retry-cluster.test.ts) does it with a real kill; here each state a dead
 * attempt can leave is made exactly.
 */
const backends = [
  { name: 'SQLite', options: () => ({}), cleanup: async () => undefined },
  (() => {
    const schema = uniqueSchema('herald_inbox_resume');
    return {
      name: 'PostgreSQL',
      options: () => ({ databaseUrl: PG_URL, databaseSchema: schema }),
      cleanup: () => dropSchema(schema),
    };
  })(),
];

describe.each(backends)('inbox sends resumed after a dead attempt ($name)', (backend) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer(backend.options());
  });
  afterAll(async () => {
    await t.close();
    await backend.cleanup();
  });

  const plan = (): PublishPlan => ({ ts: Date.now(), seed: randomUUID(), resumed: false });
  const resumed = (p: PublishPlan): PublishPlan => ({ ...p, resumed: true });
  const content = (title: string) => ({ title, body: 'b' });
  const options = (extra = {}) => ({ eventType: 'notification', durable: true, ...extra });
  /** The notification events stored on a channel, by id. */
  const storedIds = async (channel: string) =>
    (await t.server.hub.store.readAfter(channel, 0, 1000))
      .filter((e) => e.type.startsWith('notification'))
      .map((e) => e.id);
  const rows = (owner: string) =>
    t.server.inbox.list({ kind: 'user', userId: owner.slice(5) }, {}, 100, undefined);

  it('answers what the attempt that committed answered, and stores nothing twice', async () => {
    const u = `user:r-${randomUUID().slice(0, 8)}`;
    const v = `user:r-${randomUUID().slice(0, 8)}`;
    await t.server.inbox.send([u], content('first'), options({ collapseKey: 'c' }));
    const p = plan();
    // To two users: one collapses onto its unread row, the other gets a new one.
    const first = await t.server.inbox.send(
      [u, v],
      content('second'),
      options({ collapseKey: 'c' }),
      p,
    );
    expect(first.notifications.map((n) => n.status)).toEqual(['collapsed', 'created']);
    expect(first.ids[1]).toBe(plannedNotificationId(p, 1));
    const again: SendResult = await t.server.inbox.send(
      [u, v],
      content('second'),
      options({ collapseKey: 'c' }),
      resumed(p),
    );
    expect(again).toEqual(first);
    expect((await rows(u)).map((n) => n.collapsedCount)).toEqual([1]);
    expect(await rows(v)).toHaveLength(1);
    // One `notification` for u's first row and one update; one for v.
    expect(await storedIds(u)).toHaveLength(2);
    expect(await storedIds(v)).toEqual([first.ids[1]]);
  });

  it('answers a deduplicated send the same, with no event', async () => {
    const u = `user:r-${randomUUID().slice(0, 8)}`;
    const o = options({ dedupKey: 'job', dedupWindowMs: 60_000 });
    const original = await t.server.inbox.send([u], content('one'), o);
    const p = plan();
    const first = await t.server.inbox.send([u], content('two'), o, p);
    expect(first.notifications[0]).toMatchObject({ id: original.ids[0], status: 'deduplicated' });
    expect(await t.server.inbox.send([u], content('two'), o, resumed(p))).toEqual(first);
    expect(await storedIds(u)).toEqual(original.ids);
  });

  it('runs the send when the attempt that died stored nothing (no mark)', async () => {
    const u = `user:r-${randomUUID().slice(0, 8)}`;
    const p = resumed(plan());
    const r = await t.server.inbox.send([u], content('late'), options(), p);
    expect(r.ids).toEqual([plannedNotificationId(p, 0)]);
    expect(r.events).toEqual([{ id: r.ids[0], channel: u, seq: 1, streamId: expect.any(String) }]);
    expect(await storedIds(u)).toEqual(r.ids);
  });

  it('stores the events once when the attempt committed its rows but not its events', async () => {
    // PostgreSQL commits a group's rows (with their marks) before it appends their events:
    // a node killed in between leaves rows and a mark, and no event.
    const u = `user:r-${randomUUID().slice(0, 8)}`;
    const p = plan();
    const id = plannedNotificationId(p, 0);
    await t.server.inbox.store.create(
      [
        {
          id,
          owner: u,
          title: 'cut',
          body: 'b',
          priority: 'normal',
          createdAt: p.ts,
          eventType: 'notification',
          durable: true,
          muted: false,
        },
      ],
      p.ts,
      [{ key: planKey(p), from: 0, count: 1 }],
    );
    expect(await storedIds(u)).toEqual([]);
    const r = await t.server.inbox.send([u], content('cut'), options(), resumed(p));
    expect(r.notifications).toEqual([{ id, userId: u.slice(5), status: 'created', muted: false }]);
    expect(r.events).toEqual([{ id, channel: u, seq: 1, streamId: expect.any(String) }]);
    // A second retry finds the event the first one stored.
    expect(await t.server.inbox.send([u], content('cut'), options(), resumed(p))).toEqual(r);
    expect(await storedIds(u)).toEqual([id]);
    expect(await rows(u)).toHaveLength(1);
  });
});
