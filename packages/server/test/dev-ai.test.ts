import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { startServer, waitFor, type TestServer } from './helpers.js';

async function call(t: TestServer, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(t.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function devToken(t: TestServer, userId: string): Promise<string> {
  const r = await t.post('/dev/token', { userId });
  expect(r.status).toBe(200);
  return r.body.token as string;
}

describe('dev mode: the demo grants and the token-streamed answer producer', () => {
  let t: TestServer;
  let prod: TestServer;
  beforeAll(async () => {
    t = await startServer({ dev: true });
    prod = await startServer();
  });
  afterAll(async () => {
    await t.close();
    await prod.close();
  });

  it('lets a dev token read the demo channels but no other user', async () => {
    const token = await devToken(t, 'alice');
    const ok = await RawSse.open(`${t.url}/events?channels=votes,chat:lobby,alerts,ai:alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => ok.of('connected').length === 1, 5000, 'connected');
    expect(ok.status).toBe(200);
    ok.close();
    const denied = await RawSse.open(`${t.url}/events?channels=user:bob`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => denied.status !== 0);
    expect(denied.status).toBe(403);
    denied.close();
  });

  it('streams an answer: ai_start, ai_response tokens in order, a durable ai_complete', async () => {
    const token = await devToken(t, 'alice');
    const sse = await RawSse.open(`${t.url}/events?channels=ai:alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => sse.of('connected').length === 1, 5000, 'connected');
    const r = await call(t, 'POST', '/dev/ai', token, {
      channel: 'ai:alice',
      prompt: 'hi',
      tokenMs: 2,
    });
    expect(r.status).toBe(202);
    await waitFor(() => sse.of('ai_complete').length === 1, 10_000, 'ai_complete');
    const start = JSON.parse(sse.of('ai_start')[0]!.data);
    expect(start.stream).toBe(r.body.stream);
    const tokens = sse.of('ai_response').map((e) => JSON.parse(e.data));
    expect(tokens.map((x) => x.i)).toEqual([...Array(r.body.tokens as number).keys()]);
    // Ephemeral, but resumable: the id names the stream position in front of the cursor.
    expect(sse.of('ai_response').every((e) => e.id?.startsWith('ai:alice=') === true)).toBe(true);
    const done = JSON.parse(sse.of('ai_complete')[0]!.data);
    expect(done).toMatchObject({ stream: r.body.stream, reason: 'done', n: tokens.length });
    expect(done.text).toBe(tokens.map((x) => x.token).join(''));
    expect(done.text).toContain('You asked: "hi"');
    expect(sse.of('ai_complete')[0]!.id).toBeDefined(); // durable
    const latest = await call(t, 'GET', '/streams/ai:alice', token);
    expect(latest.body).toEqual({
      stream: r.body.stream,
      status: 'complete',
      text: done.text,
      n: done.n,
    });
    sse.close();
  });

  it('gives the text so far mid-answer and stops on cancel', async () => {
    const token = await devToken(t, 'carol');
    const r = await call(t, 'POST', '/dev/ai', token, {
      channel: 'ai:carol',
      prompt: 'long',
      tokenMs: 50,
    });
    let mid: any;
    await waitFor(async () => {
      mid = (await call(t, 'GET', '/streams/ai:carol', token)).body;
      return mid.n >= 2;
    });
    expect(mid).toMatchObject({ stream: r.body.stream, status: 'streaming' });
    expect(mid.text.startsWith('You asked')).toBe(true);
    const c = await call(t, 'POST', '/streams/ai:carol/cancel', token);
    expect(c.body).toEqual({ stream: r.body.stream, cancelled: true });
    const after = (await call(t, 'GET', '/streams/ai:carol', token)).body;
    expect(after.status).toBe('cancelled');
    expect(after.n).toBeLessThan(r.body.tokens);
  });

  it("refuses another user's session channel and non-ai channels", async () => {
    const token = await devToken(t, 'dave');
    // Dev tokens share ai:* (two browsers can share a demo); other grants are refused.
    expect(
      (await call(t, 'POST', '/dev/ai', token, { channel: 'votes', prompt: 'x' })).status,
    ).toBe(400);
    const plain = await t.token('erin');
    const refused = await call(t, 'POST', '/dev/ai', plain, { channel: 'ai:erin', prompt: 'x' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('HERALD_ERR_FORBIDDEN_PUBLISH');
    const read = await call(t, 'GET', '/streams/ai:erin', plain);
    expect(read.body.error.code).toBe('HERALD_ERR_FORBIDDEN_CHANNEL');
  });

  it('does not exist outside dev mode; the /streams routes do (docs/streams.md)', async () => {
    const token = await prod.token('alice', { channels: ['ai:*'], publish: ['ai:*'] });
    const r = await call(prod, 'POST', '/dev/ai', token, { channel: 'ai:alice', prompt: 'x' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('HERALD_ERR_DEV_MODE_OFF');
    const latest = await call(prod, 'GET', '/streams/ai:alice', token);
    expect([latest.status, latest.body.status]).toEqual([200, 'idle']);
    const cancel = await call(prod, 'POST', '/streams/ai:alice/cancel', token);
    expect([cancel.status, cancel.body]).toEqual([202, { cancelled: false }]);
  });
});
