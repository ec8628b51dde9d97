import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody, startServer, waitFor, type TestServer } from './helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

const redisUrl = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const databaseUrl = PG_URL;

interface PollBody {
  events: { id?: string; event: string; channel: string; data: string }[];
  resets: unknown[];
  cursor: string;
  cursors: Record<string, string>;
  more: boolean;
}

function poll(url: string, headers: Record<string, string>): Promise<PollBody> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) =>
      readBody(res, (body) =>
        res.statusCode === 200
          ? resolve(body as PollBody)
          : reject(new Error(`${res.statusCode}: ${JSON.stringify(body)}`)),
      ),
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * The poll path on the cluster backends: two nodes on one PostgreSQL schema and one Redis
 * prefix. A poll held on one node is answered by an event published on the other (through
 * Redis), and its cursor resumes on either node (from PostgreSQL).
 */
describe('GET /poll on PostgreSQL + Redis', () => {
  const schema = uniqueSchema('herald_poll');
  const shared = {
    databaseUrl,
    databaseSchema: schema,
    redisUrl,
    redisPrefix: `herald-poll-${randomBytes(5).toString('hex')}:`,
    jwtSecret: randomBytes(32).toString('hex'),
  };
  let a: TestServer;
  let b: TestServer;
  let auth: Record<string, string>;

  beforeAll(async () => {
    a = await startServer(shared);
    b = await startServer(shared);
    auth = { authorization: `Bearer ${await a.token('pc', { channels: ['pc:*'] })}` };
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await dropSchema(schema);
  });

  it('holds on one node, is answered by a publish on the other, and resumes on either', async () => {
    const q = '/poll?channels=pc:one,pc:two';
    const start = (await poll(a.url + q, auth)).cursor;
    const held = poll(a.url + q, { ...auth, 'last-event-id': start });
    await waitFor(() => a.server.hub.channelSubscribers().length === 2);
    expect((await b.post('/publish', { channel: 'pc:two', type: 'n', data: 'x' })).status).toBe(
      202,
    );
    const answer = await held;
    // data is JSON text, as on the SSE data line (docs/protocol.md).
    expect(answer.events.map((e) => [e.channel, e.data])).toEqual([['pc:two', '"x"']]);
    // Backlog on the other node, from the first answer's cursor; then the per-channel form.
    await a.post('/publish', { channel: 'pc:one', type: 'n', data: 'y' });
    const next = await poll(b.url + q, { ...auth, 'last-event-id': answer.cursor });
    expect(next.events.map((e) => [e.channel, e.data])).toEqual([['pc:one', '"y"']]);
    const own = `pc:one=${answer.cursors['pc:one']!}`;
    const perChannel = await poll(`${b.url}${q}&wait=0`, { ...auth, 'last-event-id': own });
    expect(perChannel.events.map((e) => e.data)).toEqual(['"y"']);
    expect(perChannel.resets).toEqual([]);
    await waitFor(() => a.server.hub.sessions.size === 0 && b.server.hub.sessions.size === 0);
    expect(a.server.hub.channelCount + b.server.hub.channelCount).toBe(0);
  });
});
