import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type CryptoKey, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';

const run = promisify(execFile);
const CLI = resolve(import.meta.dirname, '../dist/cli.js');

async function streamStatus(url: string, headers: Record<string, string> = {}) {
  const c = await RawSse.open(url, headers);
  await waitFor(() => c.ended || c.raw.length > 0, 5000);
  c.close();
  return c;
}

describe('RS256 with a public key file', () => {
  let t: TestServer;
  let privateKey: CryptoKey;
  let publicPem: string;
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    const file = join(mkdtempSync(join(tmpdir(), 'herald-pem-')), 'rs.pem');
    writeFileSync(file, publicPem);
    t = await startServer({ jwtAlgorithms: ['RS256'], jwtPublicKeyFile: file });
  });
  afterAll(async () => t.close());

  it('accepts RS256 tokens and refuses HS256 ones, including HS256 keyed with the public key', async () => {
    const rs = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('5m')
      .sign(privateKey);
    const ok = await streamStatus(`${t.url}/events/alice`, { authorization: `Bearer ${rs}` });
    expect(ok.status).toBe(200);
    const hs = await t.token('alice');
    expect(
      (await streamStatus(`${t.url}/events/alice`, { authorization: `Bearer ${hs}` })).status,
    ).toBe(401);
    const confused = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(publicPem));
    expect(
      (await streamStatus(`${t.url}/events/alice`, { authorization: `Bearer ${confused}` })).status,
    ).toBe(401);
  });
});

describe('ES256 from a JWKS URL', () => {
  let t: TestServer;
  let jwksServer: Server;
  let privateKey: CryptoKey;
  let fetches = 0;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwksServer = createHttpServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const port = (jwksServer.address() as { port: number }).port;
    t = await startServer({
      jwtAlgorithms: ['ES256'],
      jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((r) => jwksServer.close(r));
  });

  it('verifies with the fetched key, caches it, and refuses an unknown kid', async () => {
    const sign = (kid: string) =>
      new SignJWT({ sub: 'alice' })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setExpirationTime('5m')
        .sign(privateKey);
    expect(
      (await streamStatus(`${t.url}/events/alice`, { authorization: `Bearer ${await sign('k1')}` }))
        .status,
    ).toBe(200);
    expect(
      (await streamStatus(`${t.url}/events/alice`, { authorization: `Bearer ${await sign('k1')}` }))
        .status,
    ).toBe(200);
    expect(fetches).toBe(1);
    expect(
      (
        await streamStatus(`${t.url}/events/alice`, {
          authorization: `Bearer ${await sign('nope')}`,
        })
      ).status,
    ).toBe(401);
  });
});

describe('grants, cookies, CSRF, CORS and API keys', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ corsOrigins: ['https://app.example'], cookieSecure: false });
  });
  afterAll(async () => t.close());

  it('ignores a bare * grant unless wildcardGrant is on', async () => {
    const token = await t.token('alice', { channels: ['*'] });
    expect(
      (await streamStatus(`${t.url}/events?channels=secret`, { authorization: `Bearer ${token}` }))
        .status,
    ).toBe(403);
    const w = await startServer({ wildcardGrant: true });
    try {
      const admin = await w.token('root', { channels: ['*'] });
      expect(
        (
          await streamStatus(`${w.url}/events?channels=secret`, {
            authorization: `Bearer ${admin}`,
          })
        ).status,
      ).toBe(200);
    } finally {
      await w.close();
    }
  });

  it('turns a token into HttpOnly cookies; the stream reads the cookie; changes need the CSRF header', async () => {
    const token = await t.token('alice');
    const res = await fetch(`${t.url}/auth/cookie`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const { csrf } = (await res.json()) as { csrf: string };
    const cookies = res.headers.getSetCookie();
    const tokenCookie = cookies.find((c) => c.startsWith('herald_token='))!;
    expect(tokenCookie).toContain('HttpOnly');
    expect(tokenCookie).toContain('SameSite=Lax');
    expect(cookies.find((c) => c.startsWith('herald_csrf='))).not.toContain('HttpOnly');
    const jar = `herald_token=${token}; herald_csrf=${csrf}`;
    const s = await streamStatus(`${t.url}/events/alice`, { cookie: jar });
    expect(s.status).toBe(200);

    const logout = (headers: Record<string, string>) =>
      fetch(`${t.url}/auth/logout`, { method: 'POST', headers: { cookie: jar, ...headers } });
    const noHeader = await logout({});
    expect(noHeader.status).toBe(403);
    expect(((await noHeader.json()) as any).error.code).toBe('HERALD_ERR_CSRF');
    expect((await logout({ 'x-herald-csrf': 'x'.repeat(32) })).status).toBe(403);
    expect((await logout({ 'x-herald-csrf': csrf, origin: 'https://evil.example' })).status).toBe(
      403,
    );
    const ok = await logout({ 'x-herald-csrf': csrf, origin: 'https://app.example' });
    expect(ok.status).toBe(200);
    expect(ok.headers.getSetCookie().every((c) => c.includes('Max-Age=0'))).toBe(true);
    // Publishing never accepts the cookie, CSRF header or not.
    const pub = await fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { cookie: jar, 'x-herald-csrf': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'user:alice', data: 1 }),
    });
    expect(pub.status).toBe(401);
  });

  it('answers CORS only for listed origins, with Vary: Origin, never *', async () => {
    const allowed = await fetch(`${t.url}/healthz`, { headers: { origin: 'https://app.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(allowed.headers.get('vary')).toContain('Origin');
    const other = await fetch(`${t.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toContain('Origin');
    const pre = (origin: string) =>
      fetch(`${t.url}/publish`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
    expect((await pre('https://app.example')).status).toBe(204);
    expect((await pre('https://evil.example')).status).toBe(403);
    const token = await t.token('alice');
    const sse = await RawSse.open(`${t.url}/events/alice?token=${token}`, {
      origin: 'https://app.example',
    });
    await waitFor(() => sse.of('connected').length === 1);
    expect(sse.headers['access-control-allow-origin']).toBe('https://app.example');
    sse.close();
  });

  it('creates scoped, hashed API keys through the admin API and revokes them', async () => {
    const nonAdmin = await t.token('alice', { publish: ['user:alice'] });
    const refused = await t.post(
      '/admin/keys',
      { name: 'x' },
      { 'x-herald-key': '', authorization: `Bearer ${nonAdmin}` },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('HERALD_ERR_FORBIDDEN_ADMIN');
    expect((await t.post('/admin/keys', { name: 'x', publish: ['bad name'] })).status).toBe(400);

    const created = await t.post('/admin/keys', { name: 'jobs-worker', publish: ['jobs:*'] });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^hk_/);
    const use = (channel: string) =>
      t.post('/publish', { channel, data: 1 }, { 'x-herald-key': key });
    expect((await use('jobs:1')).status).toBe(202);
    expect((await use('user:bob')).status).toBe(403);
    expect((await t.post('/admin/keys', { name: 'y' }, { 'x-herald-key': key })).status).toBe(403);

    const listed = await fetch(`${t.url}/admin/keys`, { headers: { 'x-herald-key': API_KEY } });
    const body = JSON.stringify(await listed.json());
    expect(body).toContain('jobs-worker');
    expect(body).not.toContain(key.slice(16));
    // Only a hash is stored.
    const db = readFileSync(join(t.dataDir, 'herald.db'));
    expect(db.includes(Buffer.from(key))).toBe(false);

    const del = await fetch(`${t.url}/admin/keys/${created.body.id}`, {
      method: 'DELETE',
      headers: { 'x-herald-key': API_KEY },
    });
    expect(del.status).toBe(200);
    expect((await use('jobs:1')).status).toBe(401);
    const again = await fetch(`${t.url}/admin/keys/${created.body.id}x`, {
      method: 'DELETE',
      headers: { 'x-herald-key': API_KEY },
    });
    expect(again.status).toBe(404);
  });

  it('manages keys from the CLI against the same database', async () => {
    const args = ['--data-dir', t.dataDir];
    const { stdout: key } = await run(process.execPath, [
      CLI,
      'keys',
      'create',
      '--name',
      'cli',
      '--publish',
      'alerts',
      ...args,
    ]);
    expect(
      (await t.post('/publish', { channel: 'alerts', data: 1 }, { 'x-herald-key': key.trim() }))
        .status,
    ).toBe(202);
    const { stdout: listed } = await run(process.execPath, [CLI, 'keys', 'list', ...args]);
    const id = listed
      .split('\n')
      .find((l) => l.includes('\tcli\t'))!
      .split('\t')[0]!;
    await run(process.execPath, [CLI, 'keys', 'revoke', id, ...args]);
    await waitFor(
      async () =>
        (await t.post('/publish', { channel: 'alerts', data: 1 }, { 'x-herald-key': key.trim() }))
          .status === 401,
      10_000,
      'revocation to reach the server',
    );
  });
});
