import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { call, startServer, type TestServer } from './helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

// Group commit of the inbox (src/inbox/service.ts, sendGroup): sends of one turn are stored
// as one group, on SQLite in ONE transaction with their live events and summaries.
describe('inbox group commit', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it('stores concurrent sends, their events and their summaries in one append, with exact counts', async () => {
    const store = t.server.hub.store;
    const appendWith = store.appendWith?.bind(store);
    if (!appendWith) throw new Error('the SQLite store has appendWith');
    const spy = vi.fn(appendWith);
    Object.assign(store, { appendWith: spy });
    const n = 40;
    const sends = Array.from({ length: n }, (_, i) =>
      t.server.inbox.send(
        [i % 2 === 0 ? 'user:gc-a' : 'user:gc-b'],
        { title: `t${i}`, body: 'b', category: i % 4 < 2 ? 'x' : 'y' },
        { eventType: 'notification', durable: true },
      ),
    );
    const results = await Promise.all(sends);
    expect(spy).toHaveBeenCalledTimes(1);
    Object.assign(store, { appendWith });

    const events = await store.readAfter('user:gc-a', 0, 1000);
    const notifications = events.filter((e) => e.type === 'notification');
    const summaries = events.filter((e) => e.type === 'summary');
    expect(notifications).toHaveLength(n / 2);
    // Coalesced per group: one summary for the owner, after its notifications, exact.
    expect(summaries).toHaveLength(1);
    expect(events.at(-1)?.type).toBe('summary');
    expect(JSON.parse(summaries[0]!.data)).toMatchObject({
      unread: n / 2,
      unseen: n / 2,
      unreadByCategory: { x: n / 4, y: n / 4 },
    });
    // Each caller gets its own row and the event that announced it.
    for (const [i, r] of results.entries()) {
      expect(r.ids).toHaveLength(1);
      const channel = i % 2 === 0 ? 'user:gc-a' : 'user:gc-b';
      expect(r.events).toEqual([{ id: r.ids[0], channel, seq: expect.any(Number) }]);
    }
    const token = await t.token('gc-b');
    const summary = await call(t, 'GET', '/notifications/summary', { token });
    expect(summary.body).toMatchObject({ unread: n / 2 });
  });

  it('keeps the summary exact when a read lands between sends', async () => {
    const token = await t.token('gc-c');
    const first = await t.post('/notify/gc-c', { title: 'one', message: 'm' });
    expect(first.status).toBe(202);
    const read = await call(t, 'POST', `/notifications/${first.body.ids[0]}/read`, { token });
    expect(read.status).toBeLessThan(300);
    await Promise.all(
      [1, 2, 3].map((i) => t.post('/notify/gc-c', { title: `n${i}`, message: 'm' })),
    );
    const events = await t.server.hub.store.readAfter('user:gc-c', 0, 1000);
    const last = events.filter((e) => e.type === 'summary').at(-1);
    expect(JSON.parse(last!.data)).toMatchObject({ unread: 3 });
    expect((await call(t, 'GET', '/notifications/summary', { token })).body.unread).toBe(3);
  });
});

// PostgreSQL has no appendWith: a group's rows are one transaction, its events one append,
// and the summaries follow through the summary feed.
describe('inbox group commit on PostgreSQL', () => {
  let t: TestServer;
  const schema = uniqueSchema('herald_inbox_group');

  beforeAll(async () => {
    t = await startServer({ databaseUrl: PG_URL, databaseSchema: schema });
  });
  afterAll(async () => {
    await t.close();
    await dropSchema(schema);
  });

  it('answers each concurrent send with its own row and event, and counts exactly', async () => {
    const n = 30;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        t.server.inbox.send(
          ['user:pg-a'],
          { title: `t${i}`, body: 'b' },
          { eventType: 'notification', durable: true },
        ),
      ),
    );
    const events = await t.server.hub.store.readAfter('user:pg-a', 0, 1000);
    const notifications = events.filter((e) => e.type === 'notification');
    expect(notifications.map((e) => e.id).sort()).toEqual(results.map((r) => r.ids[0]).sort());
    for (const r of results) {
      expect(r.events).toEqual([{ id: r.ids[0], channel: 'user:pg-a', seq: expect.any(Number) }]);
    }
    const last = events.filter((e) => e.type === 'summary').at(-1);
    expect(JSON.parse(last!.data)).toMatchObject({ unread: n });
    const token = await t.token('pg-a');
    expect((await call(t, 'GET', '/notifications/summary', { token })).body.unread).toBe(n);
  });
});
