import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../src/broker/memory.js';
import { RedisRateLimiter } from '../src/rate-limit/redis.js';
import { createLogger } from '../src/logger.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { httpRequest } from './limits-helpers.js';
import { rateLimiterContract } from './rate-limiter-contract.js';
import { outageProxy } from './outage-proxy.js';

const url = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A key prefix of this run's own, so test files sharing the Redis never see each other. */
const prefix = `herald-test-rl-${randomUUID().slice(0, 8)}:`;

rateLimiterContract('RedisRateLimiter', async () => {
  const l = new RedisRateLimiter({ url, prefix: `${prefix}contract:` });
  l.start();
  await connected(l.ready());
  return l;
});

/** A missing Redis fails the test (never skips it): connecting must finish within 5 s. */
function connected(ready: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis at ${url} did not answer within 5 s`)), 5000);
  });
  return Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
}

describe('rate limits across a cluster (Redis)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  const redis = new Redis(url, { lazyConnect: true });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await redis.quit();
  });

  /** A publisher key of this run's own: the per-key counters in Redis are this test's only. */
  const apiKey = () => `rl-test-key-${randomBytes(12).toString('hex')}`;

  async function node(key: string, overrides: Parameters<typeof startServer>[0], opts = {}) {
    const t = await startServer(
      { apiKeys: [key], redisPrefix: prefix, rateLimitWindowMs: 60_000, ...overrides },
      opts,
    );
    cleanup.push(() => t.close());
    return t;
  }
  const publish = (t: TestServer, key: string) =>
    httpRequest(`${t.url}/publish`, {
      headers: { 'x-herald-key': key },
      body: { channel: 'rl', data: 1 },
    });

  it('a per-key limit holds for the whole cluster, not per node', async () => {
    const key = apiKey();
    const a = await node(key, { redisUrl: url, rateLimitPublishPerKey: 5 });
    const b = await node(key, { redisUrl: url, rateLimitPublishPerKey: 5 });
    await connected(a.server.ctx.limits.rate.ready());
    await connected(b.server.ctx.limits.rate.ready());
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => publish(i % 2 ? a : b, key)),
    );
    expect(answers.filter((r) => r.status === 202)).toHaveLength(5);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(r.body.error.code).toBe('HERALD_ERR_RATE_LIMITED');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // The counter lives in Redis under <redisPrefix>rl: (herald:rl: by default), expiring
    // with its window.
    await redis.connect().catch(() => undefined);
    const keys = await redis.keys(`${prefix}rl:publish-key:*`);
    expect(keys).toHaveLength(1);
    expect(await redis.get(keys[0]!)).toBe('12');
    const ttl = await redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('fail-open: while Redis is down each node counts alone (one log line), then Redis again', async () => {
    const proxy = await outageProxy(url);
    cleanup.push(() => proxy.close());
    let lines = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines += chunk.toString();
        cb();
      },
    });
    const key = apiKey();
    const t = await node(
      key,
      { redisUrl: proxy.url, rateLimitPublishPerKey: 2, logLevel: 'info' },
      // The broker talks to the real Redis: only the rate limiter goes through the proxy.
      { broker: new MemoryBroker(), logger: createLogger('info', sink) },
    );
    await connected(t.server.ctx.limits.rate.ready());
    expect((await publish(t, key)).status).toBe(202);
    expect((await publish(t, key)).status).toBe(202);
    expect((await publish(t, key)).status).toBe(429);

    proxy.cut();
    // Node-local counting: a fresh window on this node, the same limit.
    const during = [];
    for (let i = 0; i < 4; i++) during.push((await publish(t, key)).status);
    expect(during).toEqual([202, 202, 429, 429]);
    expect(lines.match(/rate limiter: Redis unreachable/g)).toHaveLength(1);
    expect(lines).toContain('fail-open');

    proxy.restore();
    await connected(t.server.ctx.limits.rate.ready());
    // Back on Redis, whose window still holds the 3 hits from before the outage.
    await waitFor(() => publish(t, key).then((r) => r.status === 429), 5000, 'Redis counting');
    await waitFor(() => lines.includes('rate limiter: Redis is back'));
    expect(lines.match(/rate limiter: Redis is back/g)).toHaveLength(1);
  });

  it('fail-closed: while Redis is down, rate-limited requests get 503 with Retry-After', async () => {
    const proxy = await outageProxy(url);
    cleanup.push(() => proxy.close());
    proxy.cut();
    const key = apiKey();
    const t = await node(
      key,
      { redisUrl: proxy.url, rateLimitFailMode: 'closed' },
      { broker: new MemoryBroker() },
    );
    const r = await publish(t, key);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('HERALD_ERR_BROKER_UNAVAILABLE');
    expect(r.headers['retry-after']).toBe('1');
    const s = await httpRequest(`${t.url}/events/ann?token=${await t.token('ann')}`);
    expect(s.status).toBe(503);
    // Routes without rate limits still answer.
    expect((await httpRequest(`${t.url}/healthz`)).status).toBe(200);
    proxy.restore();
    await connected(t.server.ctx.limits.rate.ready());
    expect((await publish(t, key)).status).toBe(202);
  });
});
