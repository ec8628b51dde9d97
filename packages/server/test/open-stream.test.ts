import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

/**
 * Every stream route opens its stream through sse/open-stream.ts: the same drain answer,
 * authentication, connection caps, and cleanup on close. Each case runs on both routes;
 * `/poll` shares their admission.
 */
const routes = [
  { path: '/events/alice', first: 'connected' },
  { path: '/alerts/stream', first: 'summary' },
] as const;

describe('openStream, on /events and /alerts/stream alike', () => {
  let t: TestServer;
  let bearer: Record<string, string>;
  beforeAll(async () => {
    t = await startServer({ maxConnectionsPerUser: 1 });
    bearer = { authorization: `Bearer ${await t.token('alice')}` };
  });
  afterAll(async () => t.close());

  for (const route of routes) {
    it(`${route.path}: opens, counts the connection, and undoes it all on close`, async () => {
      const s = await RawSse.open(`${t.url}${route.path}`, bearer);
      expect(s.status).toBe(200);
      expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
      await waitFor(() => s.of(route.first).length === 1);
      expect(t.server.hub.sessions.size).toBe(1);
      // The user's cap (1) counts streams of every route.
      for (const other of routes) {
        const refused = await RawSse.open(`${t.url}${other.path}`, bearer);
        expect(refused.status).toBe(429);
        await waitFor(() => refused.ended);
        expect(JSON.parse(refused.raw).error.code).toBe('HERALD_ERR_TOO_MANY_CONNECTIONS');
      }
      s.close();
      await waitFor(() => t.server.hub.sessions.size === 0, 5000, 'the session to be detached');
      // The cap's count went back too: a new stream is admitted.
      const again = await RawSse.open(`${t.url}${route.path}`, bearer);
      expect(again.status).toBe(200);
      again.close();
      await waitFor(() => t.server.hub.sessions.size === 0);
    });

    it(`${route.path}: refuses a missing credential with 401 before anything else`, async () => {
      const s = await RawSse.open(`${t.url}${route.path}`);
      expect(s.status).toBe(401);
      await waitFor(() => s.ended);
      expect(JSON.parse(s.raw).error.code).toBe('HERALD_ERR_UNAUTHENTICATED');
    });

    it(`${route.path}: a draining node answers an empty stream with shutdown and a retry hint`, async () => {
      t.server.ctx.draining = true;
      try {
        const s = await RawSse.open(`${t.url}${route.path}`, bearer);
        await waitFor(() => s.ended);
        expect(s.status).toBe(200);
        expect(s.of('shutdown')).toHaveLength(1);
        expect(s.retry).toBe(t.config.retryMs);
        expect(t.server.hub.sessions.size).toBe(0);
      } finally {
        t.server.ctx.draining = false;
      }
    });
    it(`${route.path}: an open stream keeps none of the framework's per-request objects`, async () => {
      // Fastify's end-of-response listener holds its request and reply (logger, query,
      // params) until the response ends: for a stream, for as long as it is open. The stream
      // drops it; the hooks' headers still reach the head, and the end is still logged.
      const s = await RawSse.open(`${t.url}${route.path}`, bearer);
      await waitFor(() => s.of(route.first).length === 1);
      expect(s.headers['vary']).toBe('Origin');
      const [session] = [...t.server.hub.sessions];
      const res = (session as unknown as { res: import('node:http').ServerResponse }).res;
      const names = [...res.listeners('finish'), ...res.listeners('error')].map((l) => l.name);
      expect(names).toContain('onResponseError'); // the session's own
      expect(names).not.toContain('onResFinished'); // Fastify's
      s.close();
      await waitFor(() => t.server.hub.sessions.size === 0);
    });
  }

  // /poll answers JSON, but is admitted exactly like a stream (sse/open-stream.ts `admit`).
  const admitted = ['/events?channels=', '/poll?wait=0&channels='];
  for (const path of admitted) {
    it(`${path}: the same refusals as every stream (401 without a credential, 403 off grants)`, async () => {
      const none = await fetch(`${t.url}${path}user:alice`);
      expect(none.status).toBe(401);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe(
        'HERALD_ERR_UNAUTHENTICATED',
      );
      const other = await fetch(`${t.url}${path}user:bob`, { headers: bearer });
      expect(other.status).toBe(403);
      expect(((await other.json()) as { error: { code: string } }).error.code).toBe(
        'HERALD_ERR_FORBIDDEN_CHANNEL',
      );
      expect(t.server.hub.sessions.size).toBe(0);
    });
  }
});
