import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { outageProxy } from './outage-proxy.js';

// One node's Redis taken away (a proxy cut between it and the machine's Redis, which keeps
// running for everyone else): every answer the outage decides has one code, 503
// HERALD_ERR_BROKER_UNAVAILABLE with Retry-After, and durable publishes are still stored.

const redisUrl = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Answer {
  status: number;
  code: unknown;
  retryAfter: string | null;
}

async function answer(res: Response): Promise<Answer> {
  const body = (await res.json().catch(() => undefined)) as { error?: { code?: unknown } };
  return {
    status: res.status,
    code: body?.error?.code,
    retryAfter: res.headers.get('retry-after'),
  };
}

const OUTAGE: Answer = { status: 503, code: 'HERALD_ERR_BROKER_UNAVAILABLE', retryAfter: '1' };

async function nodeBehindProxy(extra: Record<string, unknown> = {}) {
  const proxy = await outageProxy(redisUrl);
  cleanup.push(() => proxy.close());
  const t = await startServer({
    redisUrl: proxy.url,
    redisPrefix: `herald-test-${randomBytes(4).toString('hex')}:`,
    ...extra,
  });
  cleanup.push(() => t.close());
  return { t, proxy };
}

const post = (t: TestServer, path: string, body: unknown) =>
  fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-herald-key': t.config.apiKeys[0]! },
    body: JSON.stringify(body),
  });

describe('answers during a Redis outage', () => {
  it('ephemeral publishes, new streams, polls and ephemeral notifications: one code, 503, Retry-After', async () => {
    const { t, proxy } = await nodeBehindProxy();
    proxy.cut();
    await waitFor(
      async () => ((await (await fetch(`${t.url}/readyz`)).json()) as any).broker === 'unreachable',
      10_000,
      'broker unreachable',
    );
    const token = await t.token('ann', { channels: ['out:*'] });
    const auth = { authorization: `Bearer ${token}` };
    const got: Record<string, Answer> = {
      ephemeral: await answer(
        await post(t, '/publish', { channel: 'out:a', data: 1, durable: false }),
      ),
      stream: await answer(await fetch(`${t.url}/events?channels=out:b`, { headers: auth })),
      poll: await answer(await fetch(`${t.url}/poll?channels=out:c`, { headers: auth })),
      notify: await answer(
        await post(t, '/notify/ann', { title: 't', message: 'm', durable: false }),
      ),
    };
    expect(got).toEqual({ ephemeral: OUTAGE, stream: OUTAGE, poll: OUTAGE, notify: OUTAGE });
    // A durable event is stored, so it is acknowledged; it is delivered once Redis is back.
    const durable = await post(t, '/publish', { channel: 'out:a', data: 2 });
    expect(durable.status).toBe(202);
    proxy.restore();
  });

  it('with rateLimitFailMode closed, a rate-limited route answers the same code', async () => {
    const { t, proxy } = await nodeBehindProxy({ rateLimitFailMode: 'closed' });
    proxy.cut();
    await waitFor(
      async () =>
        (await answer(await post(t, '/publish', { channel: 'out:r', data: 1 }))).status === 503,
      10_000,
      'refused',
    );
    expect(await answer(await post(t, '/publish', { channel: 'out:r', data: 1 }))).toEqual(OUTAGE);
    proxy.restore();
  });
});
