import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody, startServer, waitFor, type TestServer } from './helpers.js';

/**
 * Held polls wait on one shared timer (docs/http-api.md#get-poll), never one each: the hot
 * path keeps no per-connection timers. Its own server, published to in-process and polled
 * over fresh connections, so that the only timers that come and go are the polls'.
 */

interface PollBody {
  events: { channel: string; data: string }[];
  cursor: string;
}

/**
 * Ref'd timers alive in this process: the poll sweep while a poll is held (the server's other
 * shared timers are unref'd, not listed) and any a poll made of its own.
 */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** One GET on its own connection; resolves with the JSON body and when it came. */
function poll(
  url: string,
  headers: Record<string, string>,
): Promise<{ body: PollBody; at: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) =>
      readBody(res, (body) => resolve({ body: body as PollBody, at: Date.now() })),
    );
    req.on('error', reject);
    req.end();
  });
}

describe('GET /poll: one timer for every held poll', () => {
  const N = 1000;
  let t: TestServer;
  let auth: Record<string, string>;
  beforeAll(async () => {
    t = await startServer({
      pollWaitMs: 60_000,
      rateLimitConnectPerIp: 0,
      rateLimitConnectPerUser: 0,
    });
    auth = { authorization: `Bearer ${await t.token('w', { channels: ['w:*'] })}` };
  });
  afterAll(async () => {
    await t.close();
  });
  const idle = () => t.server.hub.sessions.size === 0 && t.server.hub.channelCount === 0;

  it(`${N} held polls share one timer, which stops when the last is answered`, async () => {
    const url = `${t.url}/poll?channels=w:all`;
    const from = (await poll(url, auth)).body.cursor;
    await waitFor(() => idle() && timers() === 0);

    const held = Array.from({ length: N }, () => poll(url, { ...auth, 'last-event-id': from }));
    await waitFor(() => t.server.hub.sessions.size === N, 30_000, `${N} polls held`);
    expect(timers()).toBe(1);

    await t.server.hub.publish([{ channel: 'w:all', type: 'n', data: '"go"', durable: true }]);
    const answers = await Promise.all(held);
    expect(answers.every((a) => a.body.events.length === 1)).toBe(true);
    expect(new Set(answers.map((a) => a.body.cursor)).size).toBe(1);
    await waitFor(idle);
    await waitFor(() => timers() === 0, 5000, 'the shared timer to stop');
  });

  it('answers a poll no sooner than its wait, empty and with the cursor as given', async () => {
    const url = `${t.url}/poll?channels=w:quiet`;
    const from = (await poll(url, auth)).body.cursor;
    await waitFor(idle);
    const waits = [100, 200, 300, 400, 500, 600, 700, 800];
    const t0 = Date.now();
    const answers = await Promise.all(
      waits.map((w) => poll(`${url}&wait=${w}`, { ...auth, 'last-event-id': from })),
    );
    answers.forEach((a, i) => {
      expect(a.body.events).toEqual([]);
      expect(a.body.cursor).toBe(from);
      expect(a.at - t0).toBeGreaterThanOrEqual(waits[i]!);
    });
    await waitFor(idle);
    await waitFor(() => timers() === 0, 5000, 'the shared timer to stop');
  });
});
