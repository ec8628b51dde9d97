import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { Herald, type HeraldEvent, HeraldPublisher } from '../src/node.js';

// The SDK on both ends of a token stream, against a real Herald.
let srv: TestServer;
const clients: Herald[] = [];

beforeAll(async () => {
  srv = await startServer({ retryMs: 20 });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await srv.close();
});

const publisher = () => new HeraldPublisher({ url: srv.url, apiKey: API_KEY });

async function reader(channel: string) {
  const token = await srv.token('r', { channels: [channel] });
  const h = new Herald({
    url: srv.url,
    channels: [channel],
    getToken: () => token,
    minReconnectDelayMs: 10,
    maxReconnectDelayMs: 50,
  });
  clients.push(h);
  const events: HeraldEvent[] = [];
  h.on('event', (e) => events.push(e));
  await waitFor(() => h.state === 'connected');
  const tokens = () =>
    events.filter((e) => e.type === 'ai_response').map((e) => (e.data as { i: number }).i);
  return { h, events, tokens, token };
}

const range = (n: number) => Array.from({ length: n }, (_, k) => k);

describe('token streams through the SDK', () => {
  it('resumes mid-answer across a dropped connection: each ai_response once, in order', async () => {
    const r = await reader('ai:sdk1');
    const w = publisher().stream('ai:sdk1', { meta: { model: 'x' } });
    for (let i = 0; i < 30; i++) w.write(`w${i} `);
    const stream = await w.started;
    await waitFor(() => r.tokens().length === 30);
    // Drop the connection on the server side; write while the client is away.
    const session = [...srv.server.hub.sessions].find((s) => s.channels.includes('ai:sdk1'))!;
    session.close('error');
    await waitFor(() => ![...srv.server.hub.sessions].includes(session));
    for (let i = 30; i < 60; i++) w.write(`w${i} `);
    await waitFor(async () => (await srv.server.ctx.streams.buffer.latest('ai:sdk1'))?.n === 60);
    await waitFor(() => r.tokens().length === 60);
    for (let i = 60; i < 80; i++) w.write(`w${i} `);
    const result = await w.end();
    expect(result).toEqual({ stream, n: 80, reason: 'done' });
    await waitFor(() => r.events.some((e) => e.type === 'ai_complete'));
    expect(r.tokens()).toEqual(range(80));
    expect(r.events.filter((e) => e.type === 'ai_start')).toHaveLength(1);
    const complete = r.events.find((e) => e.type === 'ai_complete')!.data as { text: string };
    expect(complete.text).toBe(
      range(80)
        .map((i) => `w${i} `)
        .join(''),
    );
  });

  it('signals cancelled to the writer when a reader cancels', async () => {
    const r = await reader('ai:sdk2');
    const w = publisher().stream('ai:sdk2');
    w.write('a');
    await w.started;
    await waitFor(() => r.tokens().length === 1);
    const aborted = new Promise<void>((resolve) =>
      w.cancelled.addEventListener('abort', () => resolve()),
    );
    const res = await fetch(`${srv.url}/streams/ai:sdk2/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${r.token}` },
    });
    expect(res.status).toBe(202);
    await aborted;
    expect(w.write('b')).toBe(false);
    expect(await w.end()).toMatchObject({ n: 1, reason: 'cancelled' });
  });

  it('rejects started and done with the server code when refused', async () => {
    const w = publisher().stream('room:not-a-stream');
    w.write('a');
    await expect(w.end()).rejects.toMatchObject({
      code: 'HERALD_ERR_NOT_STREAM_CHANNEL',
      status: 400,
    });
    await expect(w.started).rejects.toMatchObject({ code: 'HERALD_ERR_NOT_STREAM_CHANNEL' });
  });
});
