import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';

const HEADERS_TIMEOUT = 300;
const REQUEST_TIMEOUT = 600;

/**
 * A raw client that trickles `chunks` one every `everyMs` (the slowloris attack) and records
 * when the server closed the connection and what it answered.
 */
function trickle(port: number, chunks: string[], everyMs: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  const state = { closedAt: 0, received: '', sent: 0, startedAt: Date.now() };
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (state.received += d));
  socket.on('error', () => undefined);
  socket.on('close', () => (state.closedAt = Date.now()));
  const timer = setInterval(() => {
    const next = chunks[state.sent];
    if (next === undefined || socket.destroyed) return clearInterval(timer);
    socket.write(next);
    state.sent++;
  }, everyMs);
  return {
    state,
    stop() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

describe('slow requests (slowloris)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({
      headersTimeoutMs: HEADERS_TIMEOUT,
      requestTimeoutMs: REQUEST_TIMEOUT,
      heartbeatMs: 100,
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('closes a connection whose request head trickles in slower than headersTimeoutMs', async () => {
    // 200 header lines at one per 50 ms would take 10 s to finish.
    const lines = ['GET /healthz HTTP/1.1\r\nHost: x\r\n'];
    for (let i = 0; i < 200; i++) lines.push(`X-Slow-${i}: ${i}\r\n`);
    const c = trickle(t.port, lines, 50);
    try {
      await waitFor(() => c.state.closedAt > 0, 5000, 'the server to close the socket');
      const took = c.state.closedAt - c.state.startedAt;
      expect(took).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50);
      // The deadline plus one check interval (headers timeout / 2) is about 450 ms; the bound
      // leaves room for a loaded machine and is still half of what the trickle needs.
      expect(took).toBeLessThan(5000);
      expect(c.state.sent).toBeLessThan(lines.length);
      expect(c.state.received).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      c.stop();
    }
  });

  it('closes a connection whose body trickles in slower than requestTimeoutMs', async () => {
    const body = JSON.stringify({ channel: 'slow', data: 'x'.repeat(150) });
    const head =
      `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `X-Herald-Key: ${API_KEY}\r\nContent-Length: ${body.length}\r\n\r\n`;
    // The head at once, then one body byte per 50 ms: about 8 s for the whole body.
    const c = trickle(t.port, [head, ...body.split('')], 50);
    try {
      await waitFor(() => c.state.closedAt > 0, 5000, 'the server to close the socket');
      const took = c.state.closedAt - c.state.startedAt;
      expect(took).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 50);
      expect(took).toBeLessThan(5000); // the trickle would need about 8 s
      expect(c.state.sent).toBeLessThan(body.length);
      expect(await t.server.hub.store.readAfter('slow', 0, 10)).toEqual([]);
    } finally {
      c.stop();
    }
  });

  it('leaves a stream open well past both timeouts (they bound receiving the request only)', async () => {
    const token = await t.token('sam');
    const s = await RawSse.open(`${t.url}/events/sam?token=${token}`);
    const opened = Date.now();
    try {
      await waitFor(() => s.of('connected').length === 1);
      // Heartbeats every 100 ms: 20 of them span more than three request timeouts.
      await waitFor(() => s.comments.filter((c) => c === 'hb').length >= 20, 10_000, 'heartbeats');
      expect(Date.now() - opened).toBeGreaterThan(REQUEST_TIMEOUT * 3);
      expect(s.ended).toBe(false);
      expect((await t.post('/notify/sam', { title: 'late', message: 'still open' })).status).toBe(
        202,
      );
      await waitFor(() => s.of('notification').length === 1);
      expect(s.ended).toBe(false);
    } finally {
      s.close();
    }
  });

  it('refuses a headers timeout longer than the request timeout at start', async () => {
    await expect(startServer({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).rejects.toThrow(
      /headersTimeoutMs/,
    );
  });
});
