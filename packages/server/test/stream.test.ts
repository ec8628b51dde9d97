import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { startServer, waitFor, type TestServer } from './helpers.js';

describe('the stream on the wire', () => {
  let t: TestServer;
  let alice: string;
  beforeAll(async () => {
    t = await startServer({ heartbeatMs: 200, retryMs: 1234 });
    alice = await t.token('alice', { channels: ['room:*'] });
  });
  afterAll(async () => {
    await t.close();
  });

  it('sends proxy-friendly headers, then a comment, connected, retry', async () => {
    const c = await RawSse.open(`${t.url}/events?channels=user:alice,room:1`, {
      authorization: `Bearer ${alice}`,
      'accept-encoding': 'gzip, br',
    });
    await waitFor(() => c.retry !== undefined, 5000, 'retry');
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(c.headers['cache-control']).toContain('no-cache');
    expect(c.headers['x-accel-buffering']).toBe('no');
    expect(c.headers['content-encoding']).toBeUndefined();
    expect(c.raw.startsWith(': herald stream ')).toBe(true);
    const connectedAt = c.raw.indexOf('event: connected');
    const retryAt = c.raw.indexOf('retry: 1234');
    expect(connectedAt).toBeGreaterThan(0);
    expect(retryAt).toBeGreaterThan(connectedAt);
    const connected = JSON.parse(c.of('connected')[0]!.data);
    expect(connected.channels).toEqual(['room:1', 'user:alice']);
    expect(typeof connected.connectionId).toBe('string');
    expect(Number.isNaN(Date.parse(connected.serverTime))).toBe(false);
    c.close();
  });

  it('sends heartbeat comments from the shared timer', async () => {
    const c = await RawSse.open(`${t.url}/events/alice`, { authorization: `Bearer ${alice}` });
    await waitFor(() => c.comments.filter((x) => x === 'hb').length >= 2, 5000, 'heartbeats');
    c.close();
  });

  it('delivers an injection payload as one event with literal data (raw socket and eventsource)', async () => {
    const payload = 'x\n\nevent: admin\nid: 999\ndata: pwn';
    const raw = await RawSse.open(`${t.url}/events?channels=room:inj`, {
      authorization: `Bearer ${alice}`,
    });
    const es = new EventSource(`${t.url}/events?channels=room:inj&token=${alice}`);
    const got: MessageEvent[] = [];
    const admin: MessageEvent[] = [];
    es.addEventListener('message', (e) => got.push(e));
    es.addEventListener('admin', (e) => admin.push(e));
    await new Promise<void>((r) => es.addEventListener('connected', () => r()));
    await waitFor(() => raw.of('connected').length === 1);
    const res = await t.post('/publish', { channel: 'room:inj', data: payload });
    expect(res.status).toBe(202);
    // Published string data is JSON-encoded (one data: line); wire text with line breaks (the
    // server's own events) is split into data: lines. Neither can forge a field.
    await t.server.hub.publish([
      { channel: 'room:inj', type: 'message', data: payload, durable: true },
    ]);
    await waitFor(() => got.length === 2 && raw.of('message').length === 2, 5000, 'delivery');
    expect(got.map((e) => e.data)).toEqual([JSON.stringify(payload), payload]);
    expect(JSON.parse(got[0]!.data)).toBe(payload);
    expect(got.map((e) => e.lastEventId)).not.toContain('999');
    expect(admin).toHaveLength(0);
    expect(raw.of('message').map((e) => e.data)).toEqual([JSON.stringify(payload), payload]);
    expect(raw.raw).toContain('data: "x\\n\\nevent: admin\\nid: 999\\ndata: pwn"\n\n');
    expect(raw.raw).toContain('data: event: admin\ndata: id: 999\ndata: data: pwn\n\n');
    es.close();
    raw.close();
  });

  it('delivers JSON data as its JSON text and ephemeral events without an id', async () => {
    const c = await RawSse.open(`${t.url}/events?channels=room:eph`, {
      authorization: `Bearer ${alice}`,
    });
    await waitFor(() => c.of('connected').length === 1);
    await t.post('/publish', { channel: 'room:eph', type: 'tick', data: { n: 1 }, durable: false });
    await t.post('/publish', { channel: 'room:eph', type: 'stored', data: [1, 'two'] });
    await waitFor(() => c.of('stored').length === 1);
    expect(c.of('tick')[0]).toEqual({
      event: 'tick',
      channel: 'room:eph',
      data: '{"n":1}',
      id: undefined,
    });
    expect(c.of('stored')[0]!.data).toBe('[1,"two"]');
    expect(c.of('stored')[0]!.id).toMatch(/^[A-Za-z0-9_-]{8}\.[0-9a-z]+$/);
    // The exact frames: the channel line after event:, before data:; the id first.
    expect(c.raw).toContain('\n\nevent: tick\nchannel: room:eph\ndata: {"n":1}\n\n');
    const id = c.of('stored')[0]!.id!;
    expect(c.raw).toContain(`\n\nid: ${id}\nevent: stored\nchannel: room:eph\ndata: [1,"two"]\n\n`);
    c.close();
  });

  it('serves the seed API: notify one user and broadcast to several', async () => {
    const bob = await t.token('bob');
    const a = await RawSse.open(`${t.url}/events/alice`, { authorization: `Bearer ${alice}` });
    const b = await RawSse.open(`${t.url}/events?channels=user:bob,broadcast`, {
      authorization: `Bearer ${bob}`,
    });
    await waitFor(() => a.of('connected').length === 1 && b.of('connected').length === 1);
    expect((await t.post('/notify/alice', { title: 'Hi', message: 'only alice' })).status).toBe(
      202,
    );
    const br = await t.post('/broadcast', {
      users: ['alice', 'bob'],
      title: 'All',
      message: 'both',
    });
    expect(br.status).toBe(202);
    expect(br.body.ids).toHaveLength(2);
    await t.post('/broadcast', { title: 'Everyone', message: 'public' });
    await waitFor(() => a.of('notification').length === 2 && b.of('notification').length === 2);
    const aTitles = a.of('notification').map((e) => JSON.parse(e.data).title);
    const bTitles = b.of('notification').map((e) => JSON.parse(e.data).title);
    expect(aTitles).toEqual(['Hi', 'All']);
    expect(bTitles).toEqual(['All', 'Everyone']);
    const n = JSON.parse(a.of('notification')[0]!.data);
    expect(n).toMatchObject({ title: 'Hi', message: 'only alice' });
    expect(typeof n.id).toBe('string');
    a.close();
    b.close();
  });

  it('leaves no subscriber state behind after clients close', async () => {
    await waitFor(() => t.server.hub.sessions.size === 0, 5000, 'sessions to close');
    await waitFor(() => t.server.hub.channelCount === 0, 5000, 'channels to be released');
  });
});
