import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';
import { range, RawStreamProducer, subscribe, words } from './stream-helpers.js';

const redisUrl = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * Token streams on the cluster backends: two nodes on one PostgreSQL schema and one Redis
 * prefix. The producer streams into node A; a reader on node B follows, resumes on A, and
 * cancels on B, and the producer on A is told.
 */
describe('token streams on PostgreSQL + Redis', () => {
  const schema = uniqueSchema('herald_streams');
  const shared = {
    databaseUrl: PG_URL,
    databaseSchema: schema,
    redisUrl,
    redisPrefix: `herald-streams-${randomBytes(5).toString('hex')}:`,
    jwtSecret: randomBytes(32).toString('hex'),
    retryMs: 20,
  };
  let a: TestServer;
  let b: TestServer;
  let reader: string;

  beforeAll(async () => {
    a = await startServer(shared);
    b = await startServer(shared);
    reader = await a.token('reader', { channels: ['ai:c1', 'ai:c2'] });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await dropSchema(schema);
  });

  it('follows on another node and resumes on a third connection mid-answer, once each', async () => {
    const onB = subscribe(b.url, 'ai:c1', reader);
    await waitFor(() => onB.opens === 1);
    const p = new RawStreamProducer(a.url, 'ai:c1', { 'x-herald-key': API_KEY });
    p.tokens(words(0, 25));
    await waitFor(() => onB.tokens().length === 25);
    const cursor = onB.got.at(-1)!.id;
    onB.es.close();
    p.tokens(words(25, 50));
    await waitFor(async () => (await a.server.ctx.streams.buffer.latest('ai:c1'))?.n === 50);
    // Resumed on node A from B's cursor: the buffer is in Redis, shared by both.
    const onA = subscribe(a.url, 'ai:c1', reader, cursor);
    await waitFor(() => onA.tokens().length === 25);
    p.tokens(words(50, 60));
    await p.finish({ end: 'done' });
    await waitFor(() => onA.got.some((g) => g.type === 'ai_complete'));
    onA.es.close();
    expect([...onB.tokens(), ...onA.tokens()]).toEqual(range(0, 60));
    expect(onA.got.at(-1)!.data).toMatchObject({ n: 60, reason: 'done' });
  });

  it('cancels on node B; the producer on node A sees it', async () => {
    const p = new RawStreamProducer(a.url, 'ai:c2', { 'x-herald-key': API_KEY });
    p.tokens(words(0, 3));
    await waitFor(async () => (await b.server.ctx.streams.buffer.latest('ai:c2'))?.n === 3);
    const res = await fetch(`${b.url}/streams/ai:c2/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(res.status).toBe(202);
    await waitFor(() => p.lines.some((l) => l['cancelled'] === true));
    const answer = await p.finish({ end: 'done' });
    expect(answer.at(-1)).toMatchObject({ n: 3, reason: 'cancelled' });
    const status = await fetch(`${b.url}/streams/ai:c2?token=${reader}`);
    expect(await status.json()).toMatchObject({ status: 'cancelled', n: 3 });
  });
});
