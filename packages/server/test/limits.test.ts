import { request } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { addressSubject } from '../src/limits/client-ip.js';
import { MemoryRateLimiter } from '../src/rate-limit/memory.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { httpRequest, loopbackAddress, openStreamFrom, seriesValue } from './limits-helpers.js';
import { rateLimiterContract } from './rate-limiter-contract.js';
import type { RawSse } from './sse-client.js';

const memory = new MemoryRateLimiter();
rateLimiterContract('MemoryRateLimiter', async () => memory);

describe('client address subjects', () => {
  it('counts IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by /64', () => {
    expect(addressSubject('203.0.113.7')).toBe('203.0.113.7');
    expect(addressSubject('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressSubject('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressSubject('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(addressSubject('2001:0DB8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(addressSubject('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressSubject('::1')).toBe('0:0:0:0::/64');
    expect(addressSubject('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

/** Servers started by a test; closed after it. */
const servers: TestServer[] = [];
const streams: RawSse[] = [];
async function server(overrides: Partial<Config>): Promise<TestServer> {
  const t = await startServer(overrides);
  servers.push(t);
  return t;
}
async function stream(
  t: TestServer,
  path: string,
  headers: Record<string, string> = {},
  from?: string,
) {
  const c = await openStreamFrom(t.url + path, headers, from);
  streams.push(c);
  return c;
}
afterEach(async () => {
  for (const c of streams.splice(0)) c.close();
  for (const t of servers.splice(0)) {
    await waitFor(() => t.server.hub.sessions.size === 0, 5000, 'streams to close');
    expect(t.server.ctx.limits.connections.size).toBe(0);
    await t.close();
  }
});
afterAll(() => memory.close());

const WINDOW = 60_000; // long enough that no window ends during a test: counts are exact

function expectRateLimited(res: { status: number; headers: any; body: any }) {
  expect(res.status).toBe(429);
  expect(res.body.error.code).toBe('HERALD_ERR_RATE_LIMITED');
  const retry = Number(res.headers['retry-after']);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(WINDOW / 1000);
}

describe('rate limits on publishing', () => {
  const KEY2 = 'second-test-api-key-0123456789abcdef';

  it('per API key, over /publish, /notify and /broadcast together (429 + Retry-After, counted)', async () => {
    const t = await server({
      apiKeys: [API_KEY, KEY2],
      rateLimitWindowMs: WINDOW,
      rateLimitPublishPerKey: 3,
    });
    expect((await t.post('/publish', { channel: 'alerts', data: 1 })).status).toBe(202);
    expect((await t.post('/notify/alice', { title: 't', message: 'm' })).status).toBe(202);
    expect((await t.post('/broadcast', { title: 't', message: 'm' })).status).toBe(202);
    const refused = await httpRequest(`${t.url}/publish`, {
      headers: { 'x-herald-key': API_KEY },
      body: { channel: 'alerts', data: 2 },
    });
    expectRateLimited(refused);
    expect(refused.body.error.detail).toContain('publish-key');
    // Another key has its own budget.
    expect(
      (await t.post('/publish', { channel: 'alerts', data: 3 }, { 'x-herald-key': KEY2 })).status,
    ).toBe(202);
    const metrics = await t.server.ctx.metrics.exposition();
    expect(seriesValue(metrics, 'herald_rate_limited_total{limit="publish-key"}')).toBe(1);
    // Nothing of the refused request was stored.
    const rows = await t.server.hub.store.readAfter('alerts', 0, 100);
    expect(rows.map((r) => r.data)).toEqual(['1', '3']);
  });

  it('per user (token sub), whichever token of that user is used', async () => {
    const t = await server({ rateLimitWindowMs: WINDOW, rateLimitPublishPerUser: 2 });
    const grants = { publish: ['user:*', 'broadcast'] };
    const a1 = await t.token('pub-a', grants);
    const a2 = await t.token('pub-a', { ...grants, ttlSec: 600 });
    const b = await t.token('pub-b', grants);
    const send = (token: string) =>
      httpRequest(`${t.url}/notify/alice`, {
        headers: { authorization: `Bearer ${token}` },
        body: { title: 't', message: 'm' },
      });
    expect((await send(a1)).status).toBe(202);
    expect((await send(a2)).status).toBe(202);
    expectRateLimited(await send(a1));
    expectRateLimited(await send(a2));
    expect((await send(b)).status).toBe(202);
  });

  it('per client address, before authentication', async () => {
    const t = await server({ rateLimitWindowMs: WINDOW, rateLimitPublishPerIp: 2 });
    const [a, b] = [loopbackAddress(), loopbackAddress()];
    const send = (from: string, headers: Record<string, string> = { 'x-herald-key': API_KEY }) =>
      httpRequest(`${t.url}/publish`, {
        headers,
        body: { channel: 'x', data: 1 },
        localAddress: from,
      });
    expect((await send(a)).status).toBe(202);
    expect((await send(a, {})).status).toBe(401);
    // Over the limit, even a request without credentials is refused as rate limited.
    expectRateLimited(await send(a, {}));
    expectRateLimited(await send(a));
    expect((await send(b)).status).toBe(202);
  });

  it('takes the address from X-Forwarded-For only with trustProxy, counting hops from the right', async () => {
    const t = await server({
      rateLimitWindowMs: WINDOW,
      rateLimitPublishPerIp: 1,
      trustProxy: true,
      trustProxyHops: 1,
    });
    const send = (xff: string) =>
      httpRequest(`${t.url}/publish`, {
        headers: { 'x-herald-key': API_KEY, 'x-forwarded-for': xff },
        body: { channel: 'x', data: 1 },
      });
    expect((await send('198.51.100.7')).status).toBe(202);
    expectRateLimited(await send('198.51.100.7'));
    // A client's own forged entry comes first; the proxy appends the address it saw.
    expectRateLimited(await send('203.0.113.99, 198.51.100.7'));
    expect((await send('198.51.100.8')).status).toBe(202);

    const plain = await server({ rateLimitWindowMs: WINDOW, rateLimitPublishPerIp: 1 });
    const from = loopbackAddress();
    const sendPlain = (xff: string) =>
      httpRequest(`${plain.url}/publish`, {
        headers: { 'x-herald-key': API_KEY, 'x-forwarded-for': xff },
        body: { channel: 'x', data: 1 },
        localAddress: from,
      });
    expect((await sendPlain('198.51.100.1')).status).toBe(202);
    // Without trustProxy the header is ignored: the socket address counts.
    expectRateLimited(await sendPlain('198.51.100.2'));
  });
});

describe('rate limits on opening streams', () => {
  it('per client address, before authentication', async () => {
    const t = await server({ rateLimitWindowMs: WINDOW, rateLimitConnectPerIp: 2 });
    const [a, b] = [loopbackAddress(), loopbackAddress()];
    const s1 = await stream(t, `/events/u1?token=${await t.token('u1')}`, {}, a);
    const s2 = await stream(t, '/events/u2', {}, a); // no token: 401, but it was an attempt
    await waitFor(() => s1.of('connected').length === 1);
    expect(s2.status).toBe(401);
    const s3 = await stream(t, `/events/u3?token=${await t.token('u3')}`, {}, a);
    expect(s3.status).toBe(429);
    expect(Number(s3.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await waitFor(() => s3.ended);
    expect(JSON.parse(s3.raw).error.code).toBe('HERALD_ERR_RATE_LIMITED');
    const s4 = await stream(t, `/events/u3?token=${await t.token('u3')}`, {}, b);
    await waitFor(() => s4.of('connected').length === 1);
    const metrics = await t.server.ctx.metrics.exposition();
    expect(seriesValue(metrics, 'herald_rate_limited_total{limit="connect-address"}')).toBe(1);
  });

  it('per user, from any address', async () => {
    const t = await server({ rateLimitWindowMs: WINDOW, rateLimitConnectPerUser: 2 });
    const token = await t.token('carol');
    for (let i = 0; i < 2; i++) {
      const s = await stream(t, `/events/carol?token=${token}`, {}, loopbackAddress());
      await waitFor(() => s.of('connected').length === 1);
    }
    const refused = await stream(t, `/events/carol?token=${token}`, {}, loopbackAddress());
    expect(refused.status).toBe(429);
    await waitFor(() => refused.ended);
    expect(JSON.parse(refused.raw).error.code).toBe('HERALD_ERR_RATE_LIMITED');
    const other = await stream(t, `/events/dan?token=${await t.token('dan')}`);
    await waitFor(() => other.of('connected').length === 1);
  });
});

describe('connection caps', () => {
  const connected = async (s: RawSse) => waitFor(() => s.of('connected').length === 1);
  const refusedWith429 = async (s: RawSse, retryAfter = '30') => {
    expect(s.status).toBe(429);
    expect(s.headers['retry-after']).toBe(retryAfter);
    await waitFor(() => s.ended);
    expect(JSON.parse(s.raw).error.code).toBe('HERALD_ERR_TOO_MANY_CONNECTIONS');
  };

  it('per user: refuses the stream over the cap, and admits again once one closes', async () => {
    const t = await server({ maxConnectionsPerUser: 2 });
    const token = await t.token('dave');
    const s1 = await stream(t, `/events/dave?token=${token}`);
    const s2 = await stream(t, `/events/dave?token=${token}`);
    await connected(s1);
    await connected(s2);
    await refusedWith429(await stream(t, `/events/dave?token=${token}`));
    // Another user is not affected.
    await connected(await stream(t, `/events/erin?token=${await t.token('erin')}`));
    s1.close();
    await waitFor(() => t.server.ctx.limits.connections.countUser('dave') === 1);
    await connected(await stream(t, `/events/dave?token=${token}`));
  });

  it('per client address', async () => {
    const t = await server({ maxConnectionsPerIp: 2 });
    const [a, b] = [loopbackAddress(), loopbackAddress()];
    await connected(await stream(t, `/events/u1?token=${await t.token('u1')}`, {}, a));
    await connected(await stream(t, `/events/u2?token=${await t.token('u2')}`, {}, a));
    await refusedWith429(await stream(t, `/events/u3?token=${await t.token('u3')}`, {}, a));
    await connected(await stream(t, `/events/u3?token=${await t.token('u3')}`, {}, b));
    expect(t.server.ctx.limits.connections.countAddress(a)).toBe(2);
  });

  it('node-wide: refuses whoever comes next, never evicts', async () => {
    const t = await server({ maxConnections: 3, connectionCapPolicy: 'evict-oldest' });
    for (const u of ['n1', 'n2', 'n3']) {
      await connected(
        await stream(t, `/events/${u}?token=${await t.token(u)}`, {}, loopbackAddress()),
      );
    }
    await refusedWith429(await stream(t, `/events/n4?token=${await t.token('n4')}`), '5');
    expect(t.server.hub.sessions.size).toBe(3);
  });

  it('evict-oldest per user: the oldest stream gets an evicted event and closes', async () => {
    const t = await server({ maxConnectionsPerUser: 2, connectionCapPolicy: 'evict-oldest' });
    const token = await t.token('fay');
    const s1 = await stream(t, `/events/fay?token=${token}`);
    await connected(s1);
    const s2 = await stream(t, `/events/fay?token=${token}`);
    await connected(s2);
    const s3 = await stream(t, `/events/fay?token=${token}`);
    await connected(s3);
    await waitFor(() => s1.ended, 5000, 'the oldest stream to end');
    const [evicted] = s1.of('evicted');
    expect(JSON.parse(evicted!.data)).toMatchObject({
      code: 'HERALD_ERR_TOO_MANY_CONNECTIONS',
      reason: 'newer-connection',
    });
    expect(s1.retry).toBe(30_000);
    expect(s2.ended).toBe(false);
    expect(s2.of('evicted')).toHaveLength(0);
    expect(t.server.ctx.limits.connections.countUser('fay')).toBe(2);
    // Still live: an event reaches both remaining streams.
    expect((await t.post('/notify/fay', { title: 'still', message: 'here' })).status).toBe(202);
    await waitFor(() => s2.of('notification').length === 1 && s3.of('notification').length === 1);
  });

  it('evict-oldest per address', async () => {
    const t = await server({ maxConnectionsPerIp: 1, connectionCapPolicy: 'evict-oldest' });
    const a = loopbackAddress();
    const s1 = await stream(t, `/events/g1?token=${await t.token('g1')}`, {}, a);
    await connected(s1);
    const s2 = await stream(t, `/events/g2?token=${await t.token('g2')}`, {}, a);
    await connected(s2);
    await waitFor(() => s1.ended && s1.of('evicted').length === 1);
    expect(t.server.ctx.limits.connections.countAddress(a)).toBe(1);
  });
});

describe('request size limits', () => {
  it('Last-Event-ID longer than maxCursorLength gets an in-band reset, not an error', async () => {
    const t = await server({ maxCursorLength: 100 });
    const token = await t.token('hal');
    const s = await stream(t, `/events/hal?token=${token}`, { 'last-event-id': 'x'.repeat(101) });
    await waitFor(() => s.of('reset').length === 1);
    expect(JSON.parse(s.of('reset')[0]!.data).reason).toBe('invalid-cursor');
    // A 10 KB header on the default server: the same.
    const d = await server({});
    const s2 = await stream(d, `/events/hal?token=${await d.token('hal')}`, {
      'last-event-id': '9'.repeat(10_240),
    });
    await waitFor(() => s2.of('reset').length === 1);
  });

  it('channel names stop at 128 characters; channels per request at maxChannelsPerConnection', async () => {
    const t = await server({ maxChannelsPerConnection: 3 });
    const ok = 'c'.repeat(128);
    expect((await t.post('/publish', { channel: ok, data: 1 })).status).toBe(202);
    const long = await t.post('/publish', { channel: ok + 'c', data: 1 });
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('HERALD_ERR_INVALID_CHANNEL');
    const many = await t.post('/publish', { channels: ['a', 'b', 'c', 'd'], data: 1 });
    expect(many.body.error.code).toBe('HERALD_ERR_TOO_MANY_CHANNELS');
    const token = await t.token('ivy', { channels: ['a', 'b', 'c'] });
    const s = await stream(t, `/events?channels=user:ivy,a,b,c&token=${token}`);
    expect(s.status).toBe(400);
  });

  /** Sends a body piece by piece until the server answers; resolves with status and bytes sent. */
  function sendUntilAnswered(url: string, headers: Record<string, string>, max: number) {
    return new Promise<{ status: number; sent: number; body: string }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = request(url, { method: 'POST', agent: false, headers }, (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, sent, body }));
      });
      req.on('error', (err) => (answered ? undefined : reject(err)));
      const chunk = Buffer.alloc(1024, 0x20);
      const pump = () => {
        if (answered || req.destroyed) return;
        if (sent >= max) return req.end();
        sent += chunk.length;
        // One chunk per turn of the event loop, so the answer can arrive in between.
        req.write(chunk, () => setImmediate(pump));
      };
      req.write('{"channel":"x","data":"');
      pump();
    });
  }

  it('413 for a body over maxBodyBytes, before the whole body is read (declared or chunked)', async () => {
    const t = await server({ maxBodyBytes: 2048 });
    const declared = await sendUntilAnswered(
      `${t.url}/publish`,
      {
        'content-type': 'application/json',
        'x-herald-key': API_KEY,
        'content-length': String(4 << 20),
      },
      4 << 20,
    );
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('HERALD_ERR_BODY_TOO_LARGE');
    expect(declared.sent).toBeLessThan(1 << 20);
    const chunked = await sendUntilAnswered(
      `${t.url}/publish`,
      {
        'content-type': 'application/json',
        'x-herald-key': API_KEY,
        'transfer-encoding': 'chunked',
      },
      4 << 20,
    );
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('HERALD_ERR_BODY_TOO_LARGE');
    expect(chunked.sent).toBeLessThan(1 << 20);
    expect(await t.server.hub.store.readAfter('x', 0, 10)).toEqual([]);
  });

  it('replays at most replayMax events per connection; the rest on the next one', async () => {
    const t = await server({ replayMax: 3 });
    const token = await t.token('jo');
    const first = await stream(t, `/events/jo?token=${token}`);
    await waitFor(() => first.of('connected').length === 1);
    const cursor = first.lastId!;
    first.close();
    for (let i = 0; i < 5; i++) {
      expect((await t.post('/publish', { channel: 'user:jo', data: i })).status).toBe(202);
    }
    const second = await stream(t, `/events/jo?token=${token}`, { 'last-event-id': cursor });
    await waitFor(() => second.ended, 5000, 'the bounded replay to end the stream');
    expect(second.of('message').map((e) => e.data)).toEqual(['0', '1', '2']);
    const third = await stream(t, `/events/jo?token=${token}`, { 'last-event-id': second.lastId! });
    await waitFor(() => third.of('message').length === 2);
    expect(third.of('message').map((e) => e.data)).toEqual(['3', '4']);
  });
});
