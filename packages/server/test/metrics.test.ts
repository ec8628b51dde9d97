import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { RawSse, stalledClient } from './sse-client.js';
import { scrape } from './prom-text.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('GET /metrics', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ heartbeatMs: 200 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers the Prometheus text format with Herald and process metrics', async () => {
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await scrape(t.url);
    for (const [name, type] of [
      ['herald_connections', 'gauge'],
      ['herald_connected_users', 'gauge'],
      ['herald_channels', 'gauge'],
      ['herald_events_published_total', 'counter'],
      ['herald_events_delivered_total', 'counter'],
      ['herald_publish_to_deliver_seconds', 'histogram'],
      ['herald_events_replayed_total', 'counter'],
      ['herald_replay_size_events', 'histogram'],
      ['herald_resets_total', 'counter'],
      ['herald_slow_consumers_total', 'counter'],
      ['herald_heartbeats_total', 'counter'],
      ['herald_auth_failures_total', 'counter'],
      ['herald_rate_limited_total', 'counter'],
      ['herald_store_operation_seconds', 'histogram'],
      ['herald_store_errors_total', 'counter'],
      ['herald_broker_operation_seconds', 'histogram'],
      ['herald_broker_errors_total', 'counter'],
      ['herald_broker_reconnects_total', 'counter'],
      ['herald_backfills_total', 'counter'],
      ['herald_backend_up', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
    ]) {
      expect(m.types.get(name!), name).toBe(type);
    }
    expect(m.value('herald_backend_up', { backend: 'store' })).toBe(1);
    expect(m.value('herald_backend_up', { backend: 'broker' })).toBe(1);
  });

  it('moves when connections open, events flow, replays, resets and auth failures happen', async () => {
    const before = await scrape(t.url);
    const alice = await t.token('alice');
    const bob = await t.token('bob');
    const a = await RawSse.open(`${t.url}/events?channels=user:alice,broadcast`, bearer(alice));
    const b = await RawSse.open(`${t.url}/events?channels=user:bob,broadcast`, bearer(bob));
    const a2 = await RawSse.open(`${t.url}/events?channels=user:alice`, bearer(alice));
    await waitFor(() => [a, b, a2].every((c) => c.of('connected').length === 1));

    let m = await scrape(t.url);
    expect(m.value('herald_connections')).toBe(3);
    expect(m.value('herald_connected_users')).toBe(2);
    expect(m.value('herald_channels')).toBe(3); // user:alice, user:bob, broadcast
    expect(
      m.value('herald_connections_opened_total') - before.value('herald_connections_opened_total'),
    ).toBe(3);
    const cursor = a.of('connected')[0]!.id!;

    // A durable notification, an ephemeral message to everyone, a durable custom type.
    const note = { channel: 'user:alice', type: 'notification', data: { title: 'Hi' } };
    expect((await t.post('/publish', note)).status).toBe(202);
    expect(
      (await t.post('/publish', { channel: 'broadcast', data: 'tick', durable: false })).status,
    ).toBe(202);
    expect(
      (await t.post('/publish', { channel: 'user:bob', type: 'job.done', data: { id: 1 } })).status,
    ).toBe(202);
    await waitFor(() => a.of('notification').length === 1 && a2.of('notification').length === 1);
    await waitFor(() => a.of('message').length === 1 && b.of('message').length === 1);
    await waitFor(() => b.of('job.done').length === 1);

    m = await scrape(t.url);
    const pub = (kind: string, durable: string) =>
      m.value('herald_events_published_total', { kind, durable }) -
      before.value('herald_events_published_total', { kind, durable });
    const del = (kind: string, durable: string) =>
      m.value('herald_events_delivered_total', { kind, durable }) -
      before.value('herald_events_delivered_total', { kind, durable });
    expect(pub('notification', 'true')).toBe(1);
    expect(pub('message', 'false')).toBe(1);
    expect(pub('other', 'true')).toBe(1);
    // Counted per subscriber: the notification reached two of alice's streams.
    expect(del('notification', 'true')).toBe(2);
    expect(del('message', 'false')).toBe(2);
    expect(del('other', 'true')).toBe(1);
    // ... but the latency is observed once per event.
    const latencyCount = (durable: string) =>
      m.value('herald_publish_to_deliver_seconds_count', { durable }) -
      before.value('herald_publish_to_deliver_seconds_count', { durable });
    expect(latencyCount('true')).toBe(2);
    expect(latencyCount('false')).toBe(1);
    expect(m.value('herald_store_operation_seconds_count', { op: 'append' })).toBeGreaterThan(0);
    expect(m.value('herald_broker_operation_seconds_count', { op: 'publish' })).toBeGreaterThan(0);

    // Resume from before the notification: one event replayed, one replay observed.
    const resumed = await RawSse.open(`${t.url}/events?channels=user:alice,broadcast`, {
      ...bearer(alice),
      'last-event-id': cursor,
    });
    await waitFor(() => resumed.of('notification').length === 1);
    // A cursor that cannot be honoured: a reset.
    const bogus = await RawSse.open(`${t.url}/events?channels=user:alice`, {
      ...bearer(alice),
      'last-event-id': 'not-a-cursor',
    });
    await waitFor(() => bogus.of('reset').length === 1);
    // A forged token (401) and a channel the token may not read (403).
    const forged = await RawSse.open(`${t.url}/events/alice`, bearer(alice.slice(0, -4) + 'AAAA'));
    expect(forged.status).toBe(401);
    const denied = await RawSse.open(`${t.url}/events?channels=user:bob`, bearer(alice));
    expect(denied.status).toBe(403);

    m = await scrape(t.url);
    const delta = (name: string, labels?: Record<string, string>) =>
      m.value(name, labels) - before.value(name, labels);
    expect(delta('herald_events_replayed_total')).toBe(1);
    expect(delta('herald_replay_size_events_count')).toBe(2); // two streams sent a cursor
    expect(delta('herald_replay_size_events_sum')).toBe(1);
    expect(delta('herald_resets_total', { reason: 'invalid-cursor' })).toBe(1);
    expect(delta('herald_auth_failures_total', { reason: 'HERALD_ERR_TOKEN_INVALID' })).toBe(1);
    expect(delta('herald_auth_failures_total', { reason: 'HERALD_ERR_FORBIDDEN_CHANNEL' })).toBe(1);

    // Heartbeats go out from the shared timer.
    await waitFor(
      async () => (await scrape(t.url)).value('herald_heartbeats_total') >= 5,
      10_000,
      'heartbeats to be counted',
    );

    // Labels never carry a user id or a channel name.
    expect(m.text).not.toMatch(/alice|bob|user:|broadcast|job\.done/);

    for (const c of [a, b, a2, resumed, bogus]) c.close();
    await waitFor(async () => {
      const now = await scrape(t.url);
      return (
        now.value('herald_connections') === 0 &&
        now.value('herald_connected_users') === 0 &&
        now.value('herald_channels') === 0
      );
    });
    m = await scrape(t.url);
    expect(
      m.value('herald_disconnects_total', { reason: 'client-closed' }) -
        before.value('herald_disconnects_total', { reason: 'client-closed' }),
    ).toBe(5);
  });

  it('counts rate-limit rejections reported through ctx.metrics.rateLimited', async () => {
    t.server.ctx.metrics.rateLimited('publish');
    t.server.ctx.metrics.rateLimited('publish');
    const m = await scrape(t.url);
    expect(m.value('herald_rate_limited_total', { limit: 'publish' })).toBe(2);
  });
});

describe('slow consumers', () => {
  let t: TestServer;
  let logs = '';
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    t = await startServer(
      { sendBufferBytes: 64 * 1024, logLevel: 'info' },
      { logger: createLogger('info', sink) },
    );
  });
  afterAll(async () => {
    await t.close();
  });

  it('are counted, by cut and by disconnect reason, and logged as a warning', async () => {
    const token = await t.token('slow', { channels: ['firehose'] });
    const { socket } = await stalledClient(t.port, '/events?channels=firehose', token);
    const chunk = 'x'.repeat(16 * 1024);
    // Publish until the server cuts the stalled client (kernel buffers absorb the first MBs).
    for (let i = 0; i < 4000 && t.server.hub.stats.slowConsumers === 0; i++) {
      const res = await t.post('/publish', { channel: 'firehose', data: chunk, durable: false });
      expect(res.status).toBe(202);
    }
    await waitFor(async () => {
      const m = await scrape(t.url);
      return (
        m.value('herald_slow_consumers_total') === 1 &&
        m.value('herald_disconnects_total', { reason: 'slow-consumer' }) === 1 &&
        m.value('herald_connections') === 0
      );
    });
    socket.destroy();
    const line = logs.split('\n').find((l) => l.includes('"reason":"slow-consumer"'));
    expect(JSON.parse(line!)).toMatchObject({ level: 40, msg: 'sse disconnect', user: 'slow' });
  });
});

describe('GET /admin/stats', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => {
    await t.close();
  });

  const stats = (headers: Record<string, string>, query = '') =>
    fetch(`${t.url}/admin/stats${query}`, { headers });

  it('refuses anyone who is not an admin', async () => {
    const none = await stats({});
    expect(none.status).toBe(401);
    const user = await stats(bearer(await t.token('alice', { publish: ['user:*'] })));
    expect(user.status).toBe(403);
    expect(((await user.json()) as any).error.code).toBe('HERALD_ERR_FORBIDDEN_ADMIN');
    // A cookie is not enough, even an admin's: the admin API takes headers only.
    const admin = await t.server.tokens.mint({ sub: 'root', admin: true, ttlSec: 60 });
    expect((await stats({ cookie: `herald_token=${admin}` })).status).toBe(401);
    const m = await scrape(t.url);
    expect(m.value('herald_auth_failures_total', { reason: 'HERALD_ERR_FORBIDDEN_ADMIN' })).toBe(1);
  });

  it('shows per-channel subscriber counts and the top channels to an admin', async () => {
    const admin = await t.server.tokens.mint({ sub: 'root', admin: true, ttlSec: 60 });
    const token = await t.token('carol', { channels: ['alerts', 'news'] });
    const streams = await Promise.all([
      RawSse.open(`${t.url}/events?channels=alerts`, bearer(token)),
      RawSse.open(`${t.url}/events?channels=alerts,news`, bearer(token)),
      RawSse.open(`${t.url}/events?channels=alerts,user:carol`, bearer(token)),
    ]);
    await waitFor(() => streams.every((s) => s.of('connected').length === 1));
    await t.post('/publish', { channel: 'alerts', data: 'x' });
    await waitFor(() => streams.every((s) => s.of('message').length === 1));

    const res = await stats(bearer(admin), '?top=2');
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.connections).toBe(3);
    expect(body.users).toBe(1);
    expect(body.channels).toBe(3);
    expect(body.topChannels).toEqual([
      { channel: 'alerts', subscribers: 3 },
      { channel: 'news', subscribers: 1 },
    ]);
    expect(body.channelSubscribers).toEqual([
      { channel: 'alerts', subscribers: 3 },
      { channel: 'news', subscribers: 1 },
      { channel: 'user:carol', subscribers: 1 },
    ]);
    expect(body.channelsTruncated).toBe(false);
    expect(body.node).toMatchObject({ draining: false, store: 'up', broker: 'up' });
    expect(body.node.rssBytes).toBeGreaterThan(0);
    expect(body.totals.delivered).toBe(3);
    expect(body.metrics['herald_connections']).toBe(3);
    expect(body.metrics['herald_events_delivered_total']).toContainEqual({
      labels: { kind: 'message', durable: 'true' },
      value: 3,
    });
    expect(body.metrics['herald_publish_to_deliver_seconds_count']).toEqual([
      { labels: { durable: 'true' }, value: 1 },
      { labels: { durable: 'false' }, value: 0 },
    ]);
    expect(typeof body.metrics['process_resident_memory_bytes']).toBe('number');

    // The configured API key counts as admin; the list can be limited.
    const byKey = await stats({ 'x-herald-key': API_KEY }, '?limit=1');
    expect(byKey.status).toBe(200);
    const limited = (await byKey.json()) as any;
    expect(limited.channelSubscribers).toEqual([{ channel: 'alerts', subscribers: 3 }]);
    expect(limited.channelsTruncated).toBe(true);
    expect((await stats(bearer(admin), '?top=-1')).status).toBe(400);

    for (const s of streams) s.close();
    await waitFor(() => t.server.hub.sessions.size === 0);
  });
});
