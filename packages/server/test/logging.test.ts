import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { RawSse } from './sse-client.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';

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
});
