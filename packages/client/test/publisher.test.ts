import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { Herald } from '../src/index.js';
import { HeraldClientError, HeraldPublisher } from '../src/node.js';

let srv: TestServer;
/** Markers are published with a key of their own, outside the tests' rate-limit budget. */
const MARK_KEY = 'marker-key-0123456789abcdef';
let proxy: Server;
let proxyUrl = '';
/** What the proxy does with the next requests: forward, answer 503, or forward and drop the answer. */
const plan: ('forward' | '503' | 'drop')[] = [];
const keysSeen: string[] = [];

async function forward(req: IncomingMessage, res: ServerResponse, body: Buffer, drop: boolean) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  delete headers['host'];
  delete headers['content-length'];
  const r = await fetch(srv.url + (req.url ?? '/'), {
    method: req.method ?? 'GET',
    headers,
    ...(body.length ? { body: body.toString('utf8') } : {}),
  });
  const text = await r.text();
  // The request reached Herald and was applied; the publisher never hears the answer.
  if (drop) return res.socket?.destroy();
  res.writeHead(r.status, Object.fromEntries(r.headers)).end(text);
}

beforeAll(async () => {
  srv = await startServer({
    apiKeys: [API_KEY, MARK_KEY],
    rateLimitPublishPerKey: 3,
    rateLimitWindowMs: 1000,
  });
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'];
      if (typeof key === 'string') keysSeen.push(key);
      const step = plan.shift() ?? 'forward';
      if (step === '503') {
        res
          .writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' })
          .end('{"error":{"code":"HERALD_ERR_STORE_UNAVAILABLE","message":"down"}}');
        return;
      }
      forward(req, res, Buffer.concat(chunks), step === 'drop').catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const a = proxy.address();
  proxyUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(async () => {
  await new Promise((r) => proxy.close(r));
  await srv.close();
});

/** Every event a real subscriber of `channel` gets until `until` returns true. */
async function collect(channel: string, act: () => Promise<void>, count: number) {
  const token = await srv.token('sub', { channels: [channel] });
  const h = new Herald({ url: srv.url, channels: [channel], getToken: () => token });
  const got: unknown[] = [];
  h.on('event', (e) => got.push(e.data));
  await waitFor(() => h.state === 'connected');
  await act();
  await waitFor(() => got.length >= count);
  // One more event as a marker: everything before it has arrived, nothing extra came.
  await srv.post('/publish', { channel, data: 'end' }, { 'x-herald-key': MARK_KEY });
  await waitFor(() => got.includes('end'));
  h.close();
  return got.slice(0, -1);
}

describe('HeraldPublisher', () => {
  it('publishes, notifies, broadcasts and reads the inbox', async () => {
    const pub = new HeraldPublisher({ url: srv.url, apiKey: API_KEY });
    const got = await collect(
      'jobs:1',
      async () => {
        const r = await pub.publish({ channel: 'jobs:1', type: 'done', data: { ok: true } });
        expect(r.events[0]).toMatchObject({ channel: 'jobs:1', seq: 1 });
        const many = await pub.publish([
          { channel: 'jobs:1', data: 1 },
          { channel: 'jobs:1', data: 2 },
        ]);
        expect(many).toHaveLength(2);
      },
      3,
    );
    expect(got).toEqual([{ ok: true }, 1, 2]);
    await new Promise((r) => setTimeout(r, 1000)); // the next window of the 3-per-second limit
    const n = await pub.notify('zoe', { title: 'Hi', message: 'there' });
    expect(n.ids).toHaveLength(1);
    await pub.broadcast({ users: ['zoe'], title: 'All', message: 'hands' });
    const list = await pub.notifications.list({ userId: 'zoe' });
    expect(list.notifications.length).toBe(2);
    const summary = await pub.notifications.summary({ userId: 'zoe' });
    expect(summary).toBeTruthy();
  });

  it('throws typed errors with the server code', async () => {
    const pub = new HeraldPublisher({ url: srv.url, apiKey: 'wrong-key' });
    const err = await pub.publish({ channel: 'jobs:1', data: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldClientError);
    expect(err).toMatchObject({ code: 'HERALD_ERR_TOKEN_INVALID', status: 401 });
    const bad = new HeraldPublisher({ url: srv.url, apiKey: API_KEY });
    const e2 = await bad.publish({ channel: 'bad channel', data: 1 }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ code: 'HERALD_ERR_INVALID_CHANNEL', status: 400 });
  });

  it('retries 429 after Retry-After: every publish lands once', async () => {
    const pub = new HeraldPublisher({ url: srv.url, apiKey: API_KEY, minRetryDelayMs: 10 });
    const got = await collect(
      'jobs:2',
      async () => {
        for (let i = 0; i < 7; i++) await pub.publish({ channel: 'jobs:2', data: i });
      },
      7,
    );
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('retries a 503 after Retry-After and a lost answer with the same Idempotency-Key: nothing twice', async () => {
    await new Promise((r) => setTimeout(r, 1000)); // a fresh rate-limit window
    const pub = new HeraldPublisher({ url: proxyUrl, apiKey: API_KEY, minRetryDelayMs: 10 });
    keysSeen.length = 0;
    const got = await collect(
      'jobs:3',
      async () => {
        plan.push('503');
        const t0 = Date.now();
        await pub.publish({ channel: 'jobs:3', data: 'a' });
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // Retry-After: 1
        plan.push('drop');
        await pub.publish({ channel: 'jobs:3', data: 'b' });
      },
      2,
    );
    expect(got).toEqual(['a', 'b']);
    expect(keysSeen).toHaveLength(4);
    expect(keysSeen[0]).toBe(keysSeen[1]);
    expect(keysSeen[2]).toBe(keysSeen[3]);
    expect(keysSeen[0]).not.toBe(keysSeen[2]);
  });

  it('sends a given Idempotency-Key: two publishers with one key publish once', async () => {
    await new Promise((r) => setTimeout(r, 1000)); // a fresh rate-limit window
    const a = new HeraldPublisher({ url: proxyUrl, apiKey: API_KEY });
    const b = new HeraldPublisher({ url: srv.url, apiKey: API_KEY });
    keysSeen.length = 0;
    const got = await collect(
      'jobs:4',
      async () => {
        const first = await a.notify(
          'zoe',
          { title: 'Job', message: 'done', type: 'job.done' },
          {
            idempotencyKey: 'job-42:done',
          },
        );
        const again = await b.notify(
          'zoe',
          { title: 'Job', message: 'done', type: 'job.done' },
          {
            idempotencyKey: 'job-42:done',
          },
        );
        expect(again.ids).toEqual(first.ids);
        await a.publish({ channel: 'jobs:4', data: 'x' }, { idempotencyKey: 'job-42:x' });
        await b.publish({ channel: 'jobs:4', data: 'x' }, { idempotencyKey: 'job-42:x' });
      },
      1,
    );
    expect(got).toEqual(['x']);
    expect(keysSeen).toEqual(['job-42:done', 'job-42:x']);
    const list = await b.notifications.list({ userId: 'zoe', q: 'Job' });
    expect(list.notifications).toHaveLength(1);
  });
});
