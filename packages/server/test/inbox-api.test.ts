import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startServer, waitFor, type Answer, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

describe('inbox API', () => {
  let t: TestServer;
  let alice: { token: string };
  let bob: { token: string };
  const get = (path: string, who: { token: string } | 'key') => call(t, 'GET', path, who);
  const post = (path: string, who: { token: string } | 'key', body: unknown = {}) =>
    call(t, 'POST', path, who, body);

  beforeAll(async () => {
    t = await startServer();
    alice = { token: await t.token('alice') };
    bob = { token: await t.token('bob') };
  });
  afterAll(async () => {
    await t.close();
  });

  it("stores what /notify sends, keeping its answer shape, in the recipient's inbox only", async () => {
    const res = await t.post('/notify/alice', {
      title: 'Build finished',
      message: 'main is green',
      category: 'ci',
      priority: 'high',
      url: 'https://ci.example.com/1',
      data: { build: 1 },
    });
    expect(res.status).toBe(202);
    const id = res.body.ids[0];
    expect(res.body.events).toEqual([
      { id, channel: 'user:alice', seq: expect.any(Number), streamId: expect.any(String) },
    ]);
    expect(res.body.notifications).toEqual([
      { id, userId: 'alice', status: 'created', muted: false },
    ]);
    const list = await get('/notifications', alice);
    expect(list.status).toBe(200);
    expect(list.body.notifications[0]).toMatchObject({
      id,
      userId: 'alice',
      title: 'Build finished',
      message: 'main is green',
      category: 'ci',
      priority: 'high',
      url: 'https://ci.example.com/1',
      data: { build: 1 },
      status: 'delivered',
      read: false,
      readAt: null,
      acked: false,
      archived: false,
    });
    expect((await get('/notifications', bob)).body.notifications).toEqual([]);
  });

  it("never lets one user see or change another user's notification: 404, like an unknown id", async () => {
    const { body } = await t.post('/notify/alice', { title: 'Private', message: 'for alice' });
    const id: string = body.ids[0];
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const path of [`/notifications/${id}`, `/notifications/${unknown}`]) {
      const r = await get(path, bob);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('HERALD_ERR_NOTIFICATION_NOT_FOUND');
    }
    for (const action of ['read', 'unread', 'seen', 'ack', 'archive', 'unarchive']) {
      const r = await post(`/notifications/${id}/${action}`, bob);
      expect([action, r.status, r.body.error.code]).toEqual([
        action,
        404,
        'HERALD_ERR_NOTIFICATION_NOT_FOUND',
      ]);
    }
    expect((await post(`/events/${id}/ack`, bob)).status).toBe(404);
    expect((await call(t, 'DELETE', `/notifications/${id}`, bob)).status).toBe(404);
    // Bulk changes of bob's inbox never reach alice's rows, even naming her ids.
    expect((await post('/notifications/read', bob, { ids: [id] })).body).toEqual({
      count: 0,
      ids: [],
    });
    expect((await post('/notifications/delete', bob)).body.ids).not.toContain(id);
    // Acting for another user is for admins and API keys, never a user token.
    const asAlice = await get('/notifications?userId=alice', bob);
    expect([asAlice.status, asAlice.body.error.code]).toEqual([403, 'HERALD_ERR_FORBIDDEN_INBOX']);
    const mine = await get(`/notifications/${id}`, alice);
    expect(mine.body).toMatchObject({ id, read: false, acked: false, archived: false });
    // An API key acts for a user only with an explicit userId.
    expect((await get(`/notifications/${id}`, 'key')).status).toBe(404);
    const byKey = await post(`/notifications/${id}/ack?userId=alice`, 'key');
    expect(byKey.status).toBe(200);
    expect(byKey.body.notification).toMatchObject({
      acked: true,
      ackedBy: expect.stringMatching(/^key:/),
    });
    const keyList = await get('/notifications?userId=alice', 'key');
    expect(keyList.body.notifications.map((n: any) => n.id)).toContain(id);
    expect((await get('/notifications', 'key')).status).toBe(400);
  });

  it('lists with filters and cursor pagination', async () => {
    const carol = { token: await t.token('carol') };
    const sent: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await t.post('/notify/carol', {
        title: i % 2 ? `Invoice ${i}` : `Deploy ${i}`,
        message: 'm',
        category: i % 2 ? 'billing' : 'ops',
        priority: i === 6 ? 'critical' : 'normal',
        ...(i === 5 ? { severity: 'high' } : {}),
      });
      sent.push(r.body.ids[0]);
    }
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const r: Answer = await get(
        `/notifications?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        carol,
      );
      expect(r.status).toBe(200);
      pages.push(r.body.notifications.map((n: any) => n.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual([...sent].reverse());

    const ids = async (q: string) =>
      (await get(`/notifications?${q}`, carol)).body.notifications.map((n: any) => n.id);
    expect(await ids('category=billing')).toEqual([sent[5], sent[3], sent[1]]);
    expect(await ids('category=billing,ops&minPriority=high')).toEqual([sent[6]]);
    expect(await ids('severity=high')).toEqual([sent[5]]);
    expect(await ids('q=invoice')).toEqual([sent[5], sent[3], sent[1]]);
    await post(`/notifications/${sent[0]}/read`, carol);
    expect(await ids('unread=false')).toEqual([sent[0]]);
    expect(await ids('unread=true')).toHaveLength(6);
    const first = (await get(`/notifications/${sent[3]}`, carol)).body.createdAt;
    expect(await ids(`since=${encodeURIComponent(first)}&category=billing`)).toEqual([
      sent[5],
      sent[3],
    ]);
    for (const bad of ['limit=0', 'limit=500', 'cursor=nope', 'priority=urgent', 'since=soon']) {
      const r = await get(`/notifications?${bad}`, carol);
      expect([bad, r.status, r.body.error.code]).toEqual([bad, 400, 'HERALD_ERR_BAD_REQUEST']);
    }
  });

  it('reads, acks, archives, unarchives and deletes; summarizes unread by category and unacked by severity', async () => {
    const dave = { token: await t.token('dave') };
    const send = async (body: Record<string, unknown>) =>
      (await t.post('/notify/dave', { title: 't', message: 'm', ...body })).body.ids[0] as string;
    const a = await send({ category: 'ci' });
    const b = await send({ category: 'ci', severity: 'critical' });
    const c = await send({ category: 'billing', severity: 'low' });
    expect((await get('/notifications/summary', dave)).body).toEqual({
      unread: 3,
      unseen: 3,
      unreadByCategory: { ci: 2, billing: 1 },
      unacked: 2,
      unackedBySeverity: { info: 0, low: 1, medium: 0, high: 0, critical: 1 },
    });
    const read = await post(`/notifications/${a}/read`, dave);
    expect(read.body).toMatchObject({ changed: true, notification: { id: a, read: true } });
    expect((await post(`/notifications/${a}/read`, dave)).body.changed).toBe(false);
    const ack = await post(`/events/${b}/ack`, dave);
    expect(ack.body.notification).toMatchObject({ acked: true, ackedBy: 'dave' });
    expect((await post('/notifications/read', dave, { category: 'billing' })).body).toEqual({
      count: 1,
      ids: [c],
    });
    expect((await get('/notifications/summary', dave)).body).toMatchObject({
      unread: 1,
      unreadByCategory: { ci: 1 },
      unacked: 1,
      unackedBySeverity: { low: 1, critical: 0 },
    });
    await post(`/notifications/${b}/archive`, dave);
    const listed = async (q = '') =>
      (await get(`/notifications${q}`, dave)).body.notifications.map((n: any) => n.id);
    expect(await listed()).toEqual([c, a]);
    expect(await listed('?archived=true')).toEqual([b]);
    expect(await listed('?archived=any')).toEqual([c, b, a]);
    await post(`/notifications/${b}/unarchive`, dave);
    expect(await listed()).toEqual([c, b, a]);
    const del = await call(t, 'DELETE', `/notifications/${a}`, dave);
    expect(del.body).toEqual({ deleted: [a] });
    expect((await get(`/notifications/${a}`, dave)).status).toBe(404);
    expect((await post('/notifications/archive', dave)).body.count).toBe(2);
    expect((await post('/notifications/delete', dave, { archived: true })).body.count).toBe(2);
    expect(await listed('?archived=any')).toEqual([]);
    expect((await post('/notifications/explode', dave)).status).toBe(404);
  });

  it("stores a broadcast to everyone once, with each user's own state", async () => {
    const erin = { token: await t.token('erin') };
    const frank = { token: await t.token('frank') };
    const res = await t.post('/broadcast', {
      title: 'Maintenance',
      message: '22:00',
      category: 'ops',
    });
    expect(res.status).toBe(202);
    const id = res.body.ids[0];
    expect(res.body.notifications).toEqual([
      { id, everyone: true, status: 'created', muted: false },
    ]);
    expect(res.body.events).toEqual([
      { id, channel: 'broadcast', seq: expect.any(Number), streamId: expect.any(String) },
    ]);
    const before = (await get('/notifications/summary', frank)).body.unread;
    expect((await get(`/notifications/${id}`, erin)).body).toMatchObject({ id, everyone: true });
    await post(`/notifications/${id}/read`, erin);
    expect((await get(`/notifications/${id}`, erin)).body.read).toBe(true);
    expect((await get(`/notifications/${id}`, frank)).body.read).toBe(false);
    expect((await get('/notifications/summary', frank)).body.unread).toBe(before);
    await call(t, 'DELETE', `/notifications/${id}`, frank);
    expect((await get(`/notifications/${id}`, frank)).status).toBe(404);
    expect((await get(`/notifications/${id}`, erin)).status).toBe(200);
    // A users list still makes one row per user, each with its own id.
    const some = await t.post('/broadcast', {
      users: ['erin', 'frank'],
      title: 'Hi',
      message: 'm',
    });
    expect(some.body.notifications.map((n: any) => n.userId)).toEqual(['erin', 'frank']);
    expect(new Set(some.body.ids).size).toBe(2);
  });

  it('sends through POST /notifications to a user, users, a feed or everyone, with publisher rights', async () => {
    const one = await post('/notifications', 'key', { userId: 'gina', title: 'x', message: 'y' });
    expect(one.status).toBe(202);
    expect(one.body.notifications[0]).toMatchObject({ userId: 'gina', status: 'created' });
    const feed = await post('/notifications', 'key', {
      channel: 'ops-alerts',
      title: 'CPU',
      message: '95%',
      severity: 'high',
    });
    expect(feed.body.notifications[0]).toMatchObject({ channel: 'ops-alerts' });
    const gina = { token: await t.token('gina') };
    // A user token without publish grants may not send.
    const denied = await post('/notifications', gina, { userId: 'bob', title: 'x', message: 'y' });
    expect([denied.status, denied.body.error.code]).toEqual([403, 'HERALD_ERR_FORBIDDEN_PUBLISH']);
    expect((await post('/notifications', 'key', { title: 'x', message: 'y' })).status).toBe(400);
    const bad = await post('/notifications', 'key', {
      userId: 'gina',
      title: 'x',
      message: 'y',
      url: 'javascript:alert(1)',
    });
    expect([bad.status, bad.body.error.detail]).toEqual([400, expect.stringContaining('url')]);
    // A feed is read by whoever may read the channel.
    const reader = { token: await t.token('hank', { channels: ['ops-alerts'] }) };
    const list = await get('/notifications?channel=ops-alerts', reader);
    expect(list.body.notifications.map((n: any) => n.title)).toEqual(['CPU']);
    expect((await get('/notifications?channel=ops-alerts', gina)).status).toBe(403);
    const fid = feed.body.ids[0];
    expect((await get(`/notifications/${fid}`, gina)).status).toBe(404);
    const acked = await post(`/events/${fid}/ack`, reader);
    expect(acked.body.notification).toMatchObject({ channel: 'ops-alerts', ackedBy: 'hank' });
    // Deleting from a feed needs publish rights on its channel.
    expect((await call(t, 'DELETE', `/notifications/${fid}`, reader)).status).toBe(403);
    expect((await call(t, 'DELETE', `/notifications/${fid}`, 'key')).status).toBe(200);
  });

  it('templates: validated on save, rendered on send, a missing variable is a 400 naming it', async () => {
    const put = (name: string, body: unknown, who: { token: string } | 'key' = 'key') =>
      call(t, 'PUT', `/templates/${name}`, who, body);
    const invalid = await put('shipped', { title: 'Order {{order', message: 'x' });
    expect([invalid.status, invalid.body.error.code]).toEqual([400, 'HERALD_ERR_TEMPLATE_INVALID']);
    expect((await put('shipped', { title: 'x', message: 'y', url: '{{u}}' })).body.error.code).toBe(
      'HERALD_ERR_TEMPLATE_INVALID',
    );
    expect((await put('bad name!', { title: 'x', message: 'y' })).status).toBe(400);
    expect((await put('shipped', { title: 'x', message: 'y' }, alice)).status).toBe(403);
    const ok = await put('shipped', {
      title: 'Order {{order}} shipped',
      message: 'Hi {{ name }}, order {{order}} is on its way.',
      category: 'orders',
      url: 'https://shop.example.com/orders/{{order}}',
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ name: 'shipped', variables: ['order', 'name'] });
    expect((await get('/templates', 'key')).body.templates.map((x: any) => x.name)).toContain(
      'shipped',
    );
    const sent = await t.post('/notify/alice', {
      template: 'shipped',
      variables: { order: 42, name: 'Alice' },
      priority: 'high',
    });
    expect(sent.status).toBe(202);
    const n = (await get(`/notifications/${sent.body.ids[0]}`, alice)).body;
    expect(n).toMatchObject({
      title: 'Order 42 shipped',
      message: 'Hi Alice, order 42 is on its way.',
      category: 'orders',
      priority: 'high',
      url: 'https://shop.example.com/orders/42',
      template: 'shipped',
    });
    const missing = await t.post('/notify/alice', { template: 'shipped', variables: { order: 1 } });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({
      code: 'HERALD_ERR_TEMPLATE_VARIABLE_MISSING',
      detail: expect.stringContaining('"name"'),
    });
    const unknown = await t.post('/notify/alice', { template: 'nope', variables: {} });
    expect([unknown.status, unknown.body.error.code]).toEqual([
      404,
      'HERALD_ERR_TEMPLATE_NOT_FOUND',
    ]);
    expect((await t.post('/notify/alice', { template: 'shipped', title: 'x' })).status).toBe(400);
    expect((await call(t, 'DELETE', '/templates/shipped', 'key')).status).toBe(200);
    expect((await get('/templates/shipped', 'key')).status).toBe(404);
  });

  it('storm control: collapseKey updates in place, dedupKey drops repeats; both visible in the answer', async () => {
    const ivan = { token: await t.token('ivan') };
    const c1 = await t.post('/notify/ivan', {
      title: '1 new message',
      message: 'm',
      collapseKey: 'chat',
    });
    const c2 = await t.post('/notify/ivan', {
      title: '2 new messages',
      message: 'm',
      collapseKey: 'chat',
    });
    expect(c2.body.notifications[0]).toEqual({
      id: c1.body.ids[0],
      userId: 'ivan',
      status: 'collapsed',
      muted: false,
      collapsedCount: 1,
    });
    expect(c2.body.events).toHaveLength(1); // notification.updated
    const d1 = await t.post('/notify/ivan', { title: 'Disk', message: 'full', dedupKey: 'disk' });
    const d2 = await t.post('/notify/ivan', { title: 'Disk', message: 'full', dedupKey: 'disk' });
    expect(d2.body.notifications[0]).toMatchObject({ id: d1.body.ids[0], status: 'deduplicated' });
    expect(d2.body.events).toEqual([]);
    // (Notifications to everyone from earlier tests are in ivan's inbox too.)
    const titles = (await get('/notifications', ivan)).body.notifications
      .filter((n: any) => n.userId === 'ivan')
      .map((n: any) => n.title);
    expect(titles).toEqual(['Disk', '2 new messages']);
    const everyoneCollapse = await t.post('/broadcast', {
      title: 'x',
      message: 'y',
      collapseKey: 'k',
    });
    expect(everyoneCollapse.status).toBe(400);
  });
});

describe('inbox live state', () => {
  let t: TestServer;
  const open: RawSse[] = [];
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await t.close();
  });

  async function tab(token: string, headers: Record<string, string> = {}): Promise<RawSse> {
    const c = await RawSse.open(`${t.url}/events/judy`, {
      authorization: `Bearer ${token}`,
      ...headers,
    });
    open.push(c);
    await waitFor(() => c.of('connected').length === 1, 5000, 'connected');
    return c;
  }
  const data = (c: RawSse, type: string) => c.of(type).map((e) => JSON.parse(e.data));

  it('every tab of a user converges: a read in one reaches the other, and a reconnect catches up', async () => {
    const token = await t.token('judy');
    const one = await tab(token);
    const two = await tab(token);
    const sent = await t.post('/notify/judy', { title: 'Hello', message: 'm', category: 'chat' });
    const id = sent.body.ids[0];
    await waitFor(() => two.of('summary').length === 1 && one.of('summary').length === 1);
    expect(data(two, 'notification')[0]).toMatchObject({
      id,
      title: 'Hello',
      sentAt: expect.any(String),
    });
    expect(data(two, 'summary')[0]).toMatchObject({ unread: 1, unreadByCategory: { chat: 1 } });

    // "Tab one" marks it read through the API: tab two hears about it.
    const r = await call(t, 'POST', `/notifications/${id}/read`, { token });
    expect(r.status).toBe(200);
    await waitFor(() => two.of('notification.read').length === 1 && two.of('summary').length === 2);
    expect(data(two, 'notification.read')[0]).toEqual({
      ids: [id],
      read: true,
      readAt: expect.any(String),
    });
    expect(data(two, 'summary')[1]).toMatchObject({ unread: 0 });
    // The state event comes before the summary that follows from it.
    const order = two.events.map((e) => e.event).filter((e) => e !== 'connected');
    expect(order).toEqual(['notification', 'summary', 'notification.read', 'summary']);

    // Tab two was away while the notification was acked and archived: its cursor catches up.
    const cursor = two.lastId!;
    two.close();
    await call(t, 'POST', `/notifications/${id}/ack`, { token });
    await call(t, 'POST', `/notifications/${id}/archive`, { token });
    const back = await RawSse.open(`${t.url}/events/judy`, {
      authorization: `Bearer ${token}`,
      'last-event-id': cursor,
    });
    open.push(back);
    await waitFor(() => back.of('notification.archived').length === 1);
    expect(back.events.map((e) => e.event)).toEqual([
      'connected',
      'notification.acked',
      'summary',
      'notification.archived',
      'summary',
    ]);
    expect(data(back, 'notification.acked')[0]).toMatchObject({ ids: [id], ackedBy: 'judy' });
    await waitFor(() => one.of('notification.archived').length === 1);
  });

  it('preferences: muted notifications are stored but not pushed live; critical always is', async () => {
    const token = await t.token('judy');
    const put = await call(
      t,
      'PUT',
      '/notifications/preferences',
      { token },
      {
        mutedCategories: ['social'],
        minPriority: 'normal',
      },
    );
    expect(put.body).toEqual({ mutedCategories: ['social'], minPriority: 'normal' });
    expect((await call(t, 'GET', '/notifications/preferences', { token })).body).toEqual(put.body);
    const c = await tab(token);
    const muted1 = await t.post('/notify/judy', {
      title: 'Like',
      message: 'm',
      category: 'social',
    });
    const muted2 = await t.post('/notify/judy', { title: 'FYI', message: 'm', priority: 'low' });
    const loud = await t.post('/notify/judy', {
      title: 'Outage',
      message: 'm',
      category: 'social',
      priority: 'critical',
    });
    expect(muted1.body.notifications[0].muted).toBe(true);
    expect(muted1.body.events).toEqual([]);
    expect(muted2.body.notifications[0].muted).toBe(true);
    expect(loud.body.notifications[0].muted).toBe(false);
    await waitFor(() => c.of('notification').length === 1 && c.of('summary').length === 3);
    expect(data(c, 'notification').map((n) => n.title)).toEqual(['Outage']);
    // Stored all the same: history is complete.
    const titles = (
      await call(t, 'GET', '/notifications?limit=3', { token })
    ).body.notifications.map((n: any) => [n.title, n.muted]);
    expect(titles).toEqual([
      ['Outage', false],
      ['FYI', true],
      ['Like', true],
    ]);
    const bad = await call(
      t,
      'PUT',
      '/notifications/preferences',
      { token },
      { minPriority: 'loud' },
    );
    expect(bad.status).toBe(400);
  });
});
