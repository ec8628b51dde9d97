import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, lazyRequestLogger } from '../src/logger.js';
import { RawSse } from './sse-client.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { PG_URL } from './pg-helpers.js';

describe('logs', () => {
  let t: TestServer;
  let lines = '';
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines += chunk.toString();
        cb();
      },
    });
    t = await startServer({ logLevel: 'info' }, { logger: createLogger('info', sink) });
  });
  afterAll(async () => {
    await t.close();
  });

  it('never contain tokens, API keys or cookies, and record connect, disconnect and auth failures', async () => {
    const token = await t.token('alice');
    const a = await RawSse.open(`${t.url}/events/alice?token=${token}`);
    const b = await RawSse.open(`${t.url}/events/alice`, { cookie: `herald_token=${token}` });
    await waitFor(() => a.of('connected').length === 1 && b.of('connected').length === 1);
    a.close();
    b.close();
    const forged = token.slice(0, -4) + 'AAAA';
    await RawSse.open(`${t.url}/events/alice?token=${forged}`);
    await t.post('/publish', { channel: 'x', data: 1 });
    await waitFor(() => lines.includes('"sse disconnect"') && lines.includes('"auth failure"'));
    expect(lines).toContain('"sse connect"');
    expect(lines).toContain('token=[REDACTED]');
    expect(lines).not.toContain(token);
    expect(lines).not.toContain(forged);
    expect(lines).not.toContain(token.split('.')[2]!);
    expect(lines).not.toContain(API_KEY);
  });

  it('never contain credentials sent to the admin, metrics and publish routes, or objects that carry them', async () => {
    const user = await t.token('mallory');
    const admin = await t.server.tokens.mint({ sub: 'root', admin: true, ttlSec: 60 });
    const wrongKey = 'not-the-key-0123456789abcdefghij';
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${t.url}${path}`, { headers }).then((r) => r.status);
    expect(await get('/admin/stats', { authorization: `Bearer ${user}` })).toBe(403);
    expect(await get('/admin/stats', { authorization: `Bearer ${admin}` })).toBe(200);
    expect(await get('/admin/stats', { 'x-herald-key': wrongKey })).toBe(401);
    expect(await get(`/metrics?token=${admin}&api_key=${wrongKey}`)).toBe(200);
    expect(await get(`/nowhere?access_token=${admin}`)).toBe(404);
    const denied = await t.post(
      '/publish',
      { channel: 'x', data: 1 },
      { 'x-herald-key': wrongKey },
    );
    expect(denied.status).toBe(401);
    // Anything that logs an object holding a secret gets it censored.
    t.server.app.log.info(
      {
        config: { apiKeys: [API_KEY], jwtSecret: admin, redisUrl: `redis://:${wrongKey}@h` },
        headers: { authorization: `Bearer ${admin}`, 'x-herald-key': API_KEY },
        key: API_KEY,
      },
      'object with secrets',
    );
    await waitFor(
      () => lines.includes('"object with secrets"') && lines.includes('"HERALD_ERR_TOKEN_INVALID"'),
    );
    expect(lines).toContain('[REDACTED]');
    for (const secret of [user, admin, wrongKey, API_KEY, admin.split('.')[2]!]) {
      expect(lines).not.toContain(secret);
    }
  });

  it('log an error by its plain fields, not the client or socket a driver error carries', async () => {
    const err = Object.assign(new Error('connection terminated'), {
      code: 'ECONNRESET',
      client: { config: { password: 'x' }, buffer: 'y'.repeat(50_000) },
    });
    t.server.app.log.error({ err }, 'store unavailable (test)');
    await waitFor(() => lines.includes('"store unavailable (test)"'));
    const line = lines.split('\n').find((l) => l.includes('"store unavailable (test)"'))!;
    expect(JSON.parse(line).err).toMatchObject({
      type: 'Error',
      message: 'connection terminated',
      code: 'ECONNRESET',
    });
    expect(line).not.toContain('client');
    expect(line.length).toBeLessThan(5000);
  });

  it('log a PostgreSQL error as a bounded summary, never the batch or payload it carries', async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const payload = 'P'.repeat(200_000);
    const fail = (sql: string, params: unknown[]) =>
      client.query(sql, params).then(
        () => undefined,
        (e: unknown) => e as Error & { detail?: string },
      );
    // A batch with one bad value, as an append's unnest of thousands of rows: PostgreSQL puts
    // the value in the message; a bad JSON payload goes whole into `detail`.
    const inMessage = await fail('SELECT unnest($1::bigint[])', [['1', payload]]);
    const inDetail = await fail('SELECT $1::jsonb', [payload]);
    await client.end();
    expect(inMessage?.message.length).toBeGreaterThan(payload.length);
    expect(inDetail?.detail?.length).toBeGreaterThan(payload.length);
    const wrapped = new Error(`append of ${'E'.repeat(100_000)} failed`, { cause: inMessage });
    t.server.app.log.error({ err: inMessage }, 'pg message (test)');
    t.server.app.log.error({ err: inDetail }, 'pg detail (test)');
    t.server.app.log.error({ err: wrapped }, 'pg wrapped (test)');
    await waitFor(() => lines.includes('"pg wrapped (test)"'));
    const line = (msg: string) => lines.split('\n').find((l) => l.includes(`"${msg}"`))!;
    for (const msg of ['pg message (test)', 'pg detail (test)', 'pg wrapped (test)']) {
      expect(line(msg).length).toBeLessThan(6000);
      expect(line(msg)).not.toContain('P'.repeat(400));
      expect(line(msg)).not.toContain('E'.repeat(400));
    }
    const logged = JSON.parse(line('pg message (test)')).err;
    expect(logged.code).toBe('22P02');
    expect(logged.message).toMatch(
      /^invalid input syntax for type bigint: "P+… \[\d+ more characters\]$/,
    );
    expect(JSON.parse(line('pg detail (test)')).err.detail).toMatch(/more characters\]$/);
  });

  it('tag each request line with its request id, and make no per-request child logger for requests that log nothing', async () => {
    const before = lines.length;
    await t.post('/publish', { channel: 'reqid-check', data: 1 });
    await waitFor(() => lines.slice(before).includes('"request completed"'));
    const mine = lines
      .slice(before)
      .split('\n')
      .filter((l) => l.includes('"incoming request"') || l.includes('"request completed"'))
      .map((l) => JSON.parse(l) as { reqId?: string; msg: string });
    expect(mine.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(mine[0]!.reqId).toBeTruthy();
    expect(mine[1]!.reqId).toBe(mine[0]!.reqId);

    // At warn, a request that logs nothing never builds pino's child (it redacts its bindings).
    const quiet = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }));
    let children = 0;
    const child = quiet.child.bind(quiet);
    quiet.child = (...args: Parameters<typeof child>) => {
      children++;
      return child(...args);
    };
    const lazy = lazyRequestLogger(quiet, { reqId: 'r1' }, {});
    lazy.info('not written');
    lazy.debug('not written');
    expect(children).toBe(0);
    lazy.warn('written');
    lazy.error('written too');
    expect(children).toBe(1);
  });
});
