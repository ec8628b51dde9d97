import { request } from 'node:http';
import { SignJWT, generateKeyPair, exportSPKI } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';

const SECRET = 'test-secret-that-is-long-enough-0123456789';

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

async function status(url: string, headers: Record<string, string> = {}) {
  const c = await RawSse.open(url, headers);
  await waitFor(() => c.ended || c.status !== 0);
  // Give a refused stream time to send its body (JSON error).
  await waitFor(() => c.ended || c.raw.length > 0, 2000).catch(() => undefined);
  c.close();
  return c;
}

describe('authentication, authorization and bad input', () => {
  let t: TestServer;
  const key = new TextEncoder().encode(SECRET);
  beforeAll(async () => {
    t = await startServer({ jwtSecret: SECRET, jwtIssuer: 'herald-test', jwtAudience: 'herald' });
  });
  afterAll(async () => {
    await t.close();
  });

  const sign = (
    claims: Record<string, unknown>,
    opts: { exp?: number; nbf?: number; iss?: string; aud?: string } = {},
  ) => {
    let j = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(opts.iss ?? 'herald-test')
      .setAudience(opts.aud ?? 'herald')
      .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600);
    if (opts.nbf) j = j.setNotBefore(opts.nbf);
    return j.sign(key);
  };

  it('refuses a stream without a token (401, nothing streamed)', async () => {
    const c = await status(`${t.url}/events/alice`);
    expect(c.status).toBe(401);
    expect(JSON.parse(c.raw).error.code).toBe('HERALD_ERR_UNAUTHENTICATED');
  });

  it.each([
    ['forged signature', async () => (await sign({ sub: 'alice' })).slice(0, -3) + 'AAA'],
    [
      'alg none',
      async () =>
        `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ sub: 'alice', iss: 'herald-test', aud: 'herald', exp: 9999999999 }))}.`,
    ],
    ['wrong issuer', () => sign({ sub: 'alice' }, { iss: 'evil' })],
    ['wrong audience', () => sign({ sub: 'alice' }, { aud: 'other' })],
    ['not yet valid', () => sign({ sub: 'alice' }, { nbf: Math.floor(Date.now() / 1000) + 3600 })],
    ['garbage', async () => 'not.a.jwt'],
    ['oversized', async () => 'a'.repeat(9000)],
  ])('refuses a token: %s (401)', async (_name, make) => {
    const token = await make();
    const c = await status(`${t.url}/events/alice`, { authorization: `Bearer ${token}` });
    expect(c.status).toBe(401);
    expect(JSON.parse(c.raw).error.code).toBe('HERALD_ERR_TOKEN_INVALID');
  });

  it('refuses an expired token with its own code', async () => {
    const token = await sign({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 10 });
    const c = await status(`${t.url}/events/alice`, { authorization: `Bearer ${token}` });
    expect(c.status).toBe(401);
    expect(JSON.parse(c.raw).error.code).toBe('HERALD_ERR_TOKEN_EXPIRED');
  });

  it('refuses an HS256 token signed with an RSA public key as the secret', async () => {
    const { publicKey } = await generateKeyPair('RS256');
    const pem = await exportSPKI(publicKey);
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('herald-test')
      .setAudience('herald')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(pem));
    const c = await status(`${t.url}/events/alice`, { authorization: `Bearer ${token}` });
    expect(c.status).toBe(401);
  });

  it('accepts the token from the cookie and from ?token=', async () => {
    const token = await sign({ sub: 'alice' });
    const a = await RawSse.open(`${t.url}/events/alice`, {
      cookie: `other=1; herald_token=${token}`,
    });
    const b = await RawSse.open(`${t.url}/events/alice?token=${token}`);
    await waitFor(() => a.of('connected').length === 1 && b.of('connected').length === 1);
    a.close();
    b.close();
  });

  it.each([
    'user:bob',
    'user:Bob',
    'user:bob/',
    'user:alice/../bob',
    'user:alice%2F..%2Fbob',
    'user:*',
    'user:?',
    'user:[ab]ob',
    'user:bоb', // Cyrillic o
    'user:alice,user:bob',
    'secret',
  ])('alice cannot read %j, and receives nothing of bob', async (channel) => {
    const token = await sign({ sub: 'alice' });
    const c = await status(`${t.url}/events?channels=${channel}`, {
      authorization: `Bearer ${token}`,
    });
    expect([400, 403]).toContain(c.status);
    expect(c.raw).not.toContain('event:');
  });

  it('refuses the alias route for another user', async () => {
    const token = await sign({ sub: 'alice' });
    for (const path of ['bob', 'Bob', 'bob%2F', '..%2Fbob', 'alice%2F..%2Fbob', '%2A']) {
      const c = await status(`${t.url}/events/${path}`, { authorization: `Bearer ${token}` });
      expect([400, 403, 404]).toContain(c.status);
      expect(c.raw).not.toContain('event:');
    }
  });

  it('grants channels by claim patterns, never by bare *', async () => {
    const token = await sign({ sub: 'alice', channels: ['chat:*', '*'] });
    const ok = await RawSse.open(`${t.url}/events?channels=chat:lobby`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => ok.of('connected').length === 1);
    ok.close();
    const no = await status(`${t.url}/events?channels=alerts`, {
      authorization: `Bearer ${token}`,
    });
    expect(no.status).toBe(403);
    expect(JSON.parse(no.raw).error.code).toBe('HERALD_ERR_FORBIDDEN_CHANNEL');
  });

  it('requires a key or a publish grant to publish', async () => {
    const anon = await fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'x', data: 1 }),
    });
    expect(anon.status).toBe(401);
    const sub = await sign({ sub: 'alice' });
    const denied = await t.post(
      '/publish',
      { channel: 'user:bob', data: 1 },
      { 'x-herald-key': '', authorization: `Bearer ${sub}` },
    );
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('HERALD_ERR_FORBIDDEN_PUBLISH');
    const pub = await sign({ publish: ['jobs:*'] });
    const partial = await t.post(
      '/publish',
      { channels: ['jobs:1', 'user:bob'], data: 1 },
      { 'x-herald-key': '', authorization: `Bearer ${pub}` },
    );
    expect(partial.status).toBe(403);
    const ok = await t.post(
      '/publish',
      { channel: 'jobs:1', data: 1 },
      { 'x-herald-key': '', authorization: `Bearer ${pub}` },
    );
    expect(ok.status).toBe(202);
    const wrongKey = await t.post(
      '/publish',
      { channel: 'jobs:1', data: 1 },
      { 'x-herald-key': 'x'.repeat(30) },
    );
    expect(wrongKey.status).toBe(401);
    const cookieOnly = await fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `herald_token=${pub}` },
      body: JSON.stringify({ channel: 'jobs:1', data: 1 }),
    });
    expect(cookieOnly.status).toBe(401);
  });

  it.each([
    ['bad JSON', '{"channel":', 'application/json', 400, 'HERALD_ERR_BAD_JSON'],
    ['empty JSON body', '', 'application/json', 400, 'HERALD_ERR_BAD_JSON'],
    ['text body', 'hello', 'text/plain', 415, 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['xml body', '<a/>', 'application/xml', 415, 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['array body', '[1]', 'application/json', 400, 'HERALD_ERR_BAD_REQUEST'],
    [
      'invalid channel',
      '{"channel":"a b","data":1}',
      'application/json',
      400,
      'HERALD_ERR_INVALID_CHANNEL',
    ],
    [
      'long channel',
      JSON.stringify({ channel: 'a'.repeat(129), data: 1 }),
      'application/json',
      400,
      'HERALD_ERR_INVALID_CHANNEL',
    ],
    ['missing data', '{"channel":"a"}', 'application/json', 400, 'HERALD_ERR_BAD_REQUEST'],
    [
      'LF in type',
      '{"channel":"a","type":"x\\nid: 1","data":1}',
      'application/json',
      400,
      'HERALD_ERR_INVALID_EVENT_TYPE',
    ],
    [
      'CR in type',
      '{"channel":"a","type":"x\\r","data":1}',
      'application/json',
      400,
      'HERALD_ERR_INVALID_EVENT_TYPE',
    ],
    [
      'NUL in type',
      '{"channel":"a","type":"x\\u0000","data":1}',
      'application/json',
      400,
      'HERALD_ERR_INVALID_EVENT_TYPE',
    ],
    [
      'durable not boolean',
      '{"channel":"a","data":1,"durable":"yes"}',
      'application/json',
      400,
      'HERALD_ERR_BAD_REQUEST',
    ],
  ])('answers %s with a documented error', async (_name, body, type, code, herald) => {
    const res = await fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': type, 'x-herald-key': API_KEY },
      body,
    });
    expect(res.status).toBe(code);
    expect(((await res.json()) as any).error.code).toBe(herald);
  });

  it('answers an oversized body with 413 before reading it all', async () => {
    const limit = t.config.maxBodyBytes;
    const result = await new Promise<{ status: number; body: string; sent: number }>(
      (resolve, reject) => {
        const req = request(`${t.url}/publish`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-herald-key': API_KEY,
            'content-length': String(limit * 100),
          },
        });
        let sent = 0;
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
        });
        req.on('error', reject);
        // Send only a little: the server must answer from the declared length alone.
        req.write('{"channel":"a","data":"');
        sent += 24;
      },
    );
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error.code).toBe('HERALD_ERR_BODY_TOO_LARGE');
  });

  it('answers a chunked oversized body with 413', async () => {
    const big = JSON.stringify({ channel: 'a', data: 'x'.repeat(t.config.maxBodyBytes + 10) });
    const res = await fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY },
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(big));
          c.close();
        },
      }),
      duplex: 'half',
    });
    expect(res.status).toBe(413);
  });

  it('answers unknown routes and bad notify input with catalogue errors', async () => {
    const r = await fetch(`${t.url}/nope`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).error.code).toBe('HERALD_ERR_NOT_FOUND');
    expect((await t.post('/notify/alice', { title: 'x' })).status).toBe(400);
    expect((await t.post('/notify/a%3Ab', { title: 'x', message: 'y' })).body.error.code).toBe(
      'HERALD_ERR_INVALID_CHANNEL',
    );
    expect((await t.post('/broadcast', { users: 'alice', title: 'x', message: 'y' })).status).toBe(
      400,
    );
    const dev = await t.post('/dev/token', { userId: 'alice' });
    expect(dev.status).toBe(404);
    expect(dev.body.error.code).toBe('HERALD_ERR_DEV_MODE_OFF');
  });

  it('answers hostile Last-Event-ID values with a reset, never a crash or foreign data', async () => {
    const token = await sign({ sub: 'alice' });
    await t.post('/notify/bob', { title: 'secret', message: 'for bob only' });
    const bobStream = await RawSse.open(`${t.url}/events/bob?token=${await sign({ sub: 'bob' })}`);
    await waitFor(() => bobStream.of('connected').length === 1);
    const bobCursor = bobStream.of('connected')[0]!.id!;
    bobStream.close();
    for (const bad of [
      '1:',
      '-1',
      'x'.repeat(10_240),
      'ab\0cdefgh.1',
      bobCursor,
      '%00',
      'AAAAAAAA.zzzzzzzzzzz',
    ]) {
      const c = await RawSse.open(`${t.url}/events/alice?lastEventId=${encodeURIComponent(bad)}`, {
        authorization: `Bearer ${token}`,
      });
      await waitFor(() => c.of('reset').length === 1, 5000, `reset for ${bad.slice(0, 20)}`);
      expect(JSON.parse(c.of('reset')[0]!.data).reason).toMatch(/invalid-cursor|cursor-mismatch/);
      expect(c.raw).not.toContain('for bob only');
      c.close();
    }
    // The header path too, including a value Node would accept as a header.
    const h = await RawSse.open(`${t.url}/events/alice`, {
      authorization: `Bearer ${token}`,
      'last-event-id': bobCursor,
    });
    await waitFor(() => h.of('reset').length === 1);
    h.close();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('closes a stream when its token expires', async () => {
    const token = await sign({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) + 2 });
    const c = await RawSse.open(`${t.url}/events/alice`, { authorization: `Bearer ${token}` });
    await waitFor(() => c.of('connected').length === 1);
    await waitFor(() => c.ended, 10_000, 'stream to end at expiry');
    expect(c.of('token-expired')).toHaveLength(1);
  });
});
