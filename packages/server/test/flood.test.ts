import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { httpRequest, loopbackAddress, openStreamFrom, seriesValue } from './limits-helpers.js';
import type { RawSse } from './sse-client.js';

/** Runs `count` tasks, at most `concurrency` at a time. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>) {
  const out: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/** Polls /healthz back to back until stopped; records every answer's status and latency. */
function healthProbe(url: string) {
  const samples: { status: number; ms: number }[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await httpRequest(`${url}/healthz`).catch(() => ({ status: 0 }));
      samples.push({ status: r.status, ms: performance.now() - t0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await done;
    },
  };
}

describe('a flood of connections and publishes', () => {
  let t: TestServer;
  const streams: RawSse[] = [];
  beforeAll(async () => {
    t = await startServer({
      // One window for the whole test, so every count below is exact.
      rateLimitWindowMs: 120_000,
      rateLimitPublishPerKey: 300,
      rateLimitConnectPerIp: 150,
      maxConnectionsPerIp: 40,
      maxConnectionsPerUser: 5,
    });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await waitFor(() => t.server.hub.sessions.size === 0, 10_000, 'every stream to close');
    expect(t.server.ctx.limits.connections.size).toBe(0);
    await t.close();
  });

  it('holds every limit, counts the refusals, and keeps answering /healthz', async () => {
    const from = loopbackAddress();
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, u) => t.token(`flood-${u}`)));
    const probe = healthProbe(t.url);
    try {
      // 400 stream attempts from one address: 10 per user for 40 users, 100 at a time.
      const attempts = await pool(400, 100, async (i) => {
        const u = i % 40;
        const s = await openStreamFrom(`${t.url}/events/flood-${u}?token=${tokens[u]!}`, {}, from);
        streams.push(s);
        if (s.status === 200) await waitFor(() => s.of('connected').length === 1 || s.ended);
        else await waitFor(() => s.ended);
        return s;
      });
      const code = (s: RawSse) => (s.status === 429 ? JSON.parse(s.raw).error.code : s.status);
      const codes = attempts.map(code);
      const open = attempts.filter((s) => s.status === 200 && !s.ended);
      expect(codes.filter((c) => c === 'HERALD_ERR_RATE_LIMITED')).toHaveLength(250);
      expect(codes.filter((c) => c === 'HERALD_ERR_TOO_MANY_CONNECTIONS')).toHaveLength(110);
      expect(open).toHaveLength(40);
      expect(codes.filter((c) => c !== 200 && typeof c === 'number')).toEqual([]);
      for (const s of attempts.filter((a) => a.status === 429)) {
        expect(Number(s.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      expect(t.server.hub.sessions.size).toBe(40);
      expect(t.server.ctx.limits.connections.countAddress(from)).toBe(40);

      // 1000 publishes with one key, 50 at a time.
      const published = await pool(1000, 50, () =>
        httpRequest(`${t.url}/publish`, {
          headers: { 'x-herald-key': API_KEY },
          body: { channel: 'flood', data: { x: 1 } },
        }),
      );
      expect(published.filter((r) => r.status === 202)).toHaveLength(300);
      const limited = published.filter((r) => r.status === 429);
      expect(limited).toHaveLength(700);
      for (const r of limited) expect(r.body.error.code).toBe('HERALD_ERR_RATE_LIMITED');
      const stored = await t.server.hub.store.readAfter('flood', 0, 2000);
      expect(stored).toHaveLength(300);
    } finally {
      await probe.stop();
    }

    // The process stayed responsive throughout: every probe answered, none waited long. The
    // bound is loose on purpose (it catches a stalled process, it does not measure speed): the
    // test shares the machine with whatever else runs, so a few hundred ms can be noise.
    expect(probe.samples.length).toBeGreaterThanOrEqual(5);
    expect(probe.samples.every((s) => s.status === 200)).toBe(true);
    expect(Math.max(...probe.samples.map((s) => s.ms))).toBeLessThan(5000);
    const metrics = await t.server.ctx.metrics.exposition();
    expect(seriesValue(metrics, 'herald_rate_limited_total{limit="publish-key"}')).toBe(700);
    expect(seriesValue(metrics, 'herald_rate_limited_total{limit="connect-address"}')).toBe(250);
    expect(seriesValue(metrics, 'herald_rate_limited_total{limit="connections-address"}')).toBe(
      110,
    );
  });
});
