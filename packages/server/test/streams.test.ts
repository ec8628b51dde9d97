import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { range, RawStreamProducer, subscribe, words } from './stream-helpers.js';

describe('token streams on ai: channels', () => {
  let t: TestServer;
  let reader: string;
  const key = { 'x-herald-key': API_KEY };
  beforeAll(async () => {
    // Grace 0: a finished answer's tokens are dropped at once, so "stream-gone" is reachable.
    t = await startServer({ retryMs: 20, streamGraceSec: 0, streamMaxTokens: 1000 });
    reader = await t.token('reader', { channels: ['ai:s1', 'ai:s2', 'ai:s3', 'ai:s4', 'ai:s5'] });
  });
  afterAll(async () => {
    await t.close();
  });

  it('streams ai_start, every token in order, then a durable ai_complete with the text', async () => {
    const sub = subscribe(t.url, 'ai:s1', reader);
    await waitFor(() => sub.opens === 1);
    const p = new RawStreamProducer(t.url, 'ai:s1', key);
    p.send({ meta: { model: 'm1' } });
    p.tokens(words(0, 50));
    p.send({ tokens: words(50, 100) });
    const answer = await p.finish({ end: 'done' });
    expect(p.status).toBe(200);
    expect(answer.at(-1)).toMatchObject({ stream: p.stream, n: 100, reason: 'done' });
    await waitFor(() => sub.got.some((g) => g.type === 'ai_complete'));
    sub.es.close();
    expect(sub.got[0]).toMatchObject({
      type: 'ai_start',
      data: { stream: p.stream, meta: { model: 'm1' } },
    });
    expect(sub.tokens()).toEqual(range(0, 100));
    const complete = sub.got.at(-1)!;
    expect(complete.data).toEqual({
      stream: p.stream,
      text: words(0, 100).join(''),
      n: 100,
      reason: 'done',
    });
    // Durable: the id is a plain cursor again (no stream under way).
    expect(complete.id).not.toContain('~');
    // A reload after the end replays the whole answer from the store, and the status has it.
    const status = await fetch(`${t.url}/streams/ai:s1?token=${reader}`);
    expect(await status.json()).toEqual({
      stream: p.stream,
      status: 'complete',
      text: words(0, 100).join(''),
      n: 100,
    });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^herald_ai_tokens_total 100$/m);
    expect(metrics).toMatch(/^herald_ai_streams 0$/m);
  });

  it('resumes a dropped connection mid-answer: every token once, in order', async () => {
    const sub = subscribe(t.url, 'ai:s2', reader);
    await waitFor(() => sub.opens === 1);
    const p = new RawStreamProducer(t.url, 'ai:s2', key);
    p.tokens(words(0, 40));
    await waitFor(() => sub.tokens().length === 40);
    // Cut the connection from the server side; tokens 40-79 are sent while it is down.
    const session = [...t.server.hub.sessions].find((s) => s.channels.includes('ai:s2'))!;
    expect(session.cursor()).toMatch(/^ai:s2=[A-Za-z0-9_-]+\.14~/); // 40 tokens = 0x14 in base 36
    session.close('error');
    await waitFor(() => ![...t.server.hub.sessions].includes(session));
    p.tokens(words(40, 80));
    await waitFor(() => sub.opens === 2);
    p.tokens(words(80, 120));
    await p.finish({ end: 'done' });
    await waitFor(() => sub.got.some((g) => g.type === 'ai_complete'));
    sub.es.close();
    expect(sub.tokens()).toEqual(range(0, 120));
    expect(sub.got.filter((g) => g.type === 'ai_start')).toHaveLength(1);
    expect(sub.got.filter((g) => g.type === 'ai_complete')).toHaveLength(1);
    expect(sub.resets).toEqual([]);
  });

  it('gives a late joiner (a second device) the answer so far, then the rest live', async () => {
    const p = new RawStreamProducer(t.url, 'ai:s3', key);
    p.tokens(words(0, 30));
    await waitFor(async () => (await t.server.ctx.streams.buffer.latest('ai:s3'))?.n === 30);
    const late = subscribe(t.url, 'ai:s3', reader);
    await waitFor(() => late.tokens().length === 30);
    p.tokens(words(30, 60));
    await p.finish({ end: 'done' });
    await waitFor(() => late.got.some((g) => g.type === 'ai_complete'));
    late.es.close();
    expect(late.got[0]?.type).toBe('ai_start');
    expect(late.tokens()).toEqual(range(0, 60));
  });

  it('answers reset stream-gone for a stream the buffer no longer holds, then its ai_complete', async () => {
    const sub = subscribe(t.url, 'ai:s4', reader);
    await waitFor(() => sub.opens === 1);
    const p = new RawStreamProducer(t.url, 'ai:s4', key);
    p.tokens(words(0, 10));
    await waitFor(() => sub.tokens().length === 10);
    const cursor = sub.got.at(-1)!.id;
    sub.es.close();
    p.tokens(words(10, 20));
    await p.finish({ end: 'done' }); // grace 0: the tokens are gone at once
    const again = subscribe(t.url, 'ai:s4', reader, cursor);
    await waitFor(() => again.got.some((g) => g.type === 'ai_complete'));
    again.es.close();
    expect(again.resets).toEqual([
      { reason: 'stream-gone', channels: ['ai:s4'], stream: p.stream },
    ]);
    expect(again.tokens()).toEqual([]);
    expect(again.got.at(-1)!.data).toMatchObject({ text: words(0, 20).join(''), n: 20 });
  });

  it('cancels from a reader: the producer is told and the answer ends cancelled', async () => {
    const sub = subscribe(t.url, 'ai:s5', reader);
    await waitFor(() => sub.opens === 1);
    const p = new RawStreamProducer(t.url, 'ai:s5', key);
    p.tokens(words(0, 5));
    await waitFor(() => sub.tokens().length === 5);
    const res = await fetch(`${t.url}/streams/ai:s5/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ cancelled: true, stream: p.stream });
    await waitFor(() => p.lines.some((l) => l['cancelled'] === true));
    p.tokens(words(5, 10)); // too late: dropped
    const answer = await p.finish({ end: 'done' });
    expect(answer.at(-1)).toMatchObject({ n: 5, reason: 'cancelled' });
    await waitFor(() => sub.got.some((g) => g.type === 'ai_complete'));
    sub.es.close();
    expect(sub.tokens()).toEqual(range(0, 5));
    expect(sub.got.at(-1)!.data).toMatchObject({ reason: 'cancelled', n: 5 });
    const again = await fetch(`${t.url}/streams/ai:s5/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(await again.json()).toEqual({ cancelled: false });
  });

  it('refuses bad input with documented codes', async () => {
    const code = async (p: RawStreamProducer, last?: unknown) => {
      const lines = await p.finish(last);
      return [p.status, (lines.at(-1)?.['error'] as { code?: string } | undefined)?.code];
    };
    expect(await code(new RawStreamProducer(t.url, 'room:x', key), { end: 'done' })).toEqual([
      400,
      'HERALD_ERR_NOT_STREAM_CHANNEL',
    ]);
    expect(await code(new RawStreamProducer(t.url, 'ai:e1', {}), { end: 'done' })).toEqual([
      401,
      'HERALD_ERR_UNAUTHENTICATED',
    ]);
    const readerOnly = { authorization: `Bearer ${reader}` };
    expect(await code(new RawStreamProducer(t.url, 'ai:s1', readerOnly), { end: 'done' })).toEqual([
      403,
      'HERALD_ERR_FORBIDDEN_PUBLISH',
    ]);
    const bad = new RawStreamProducer(t.url, 'ai:e1', key);
    bad.sendRaw('not json\n');
    expect(await code(bad)).toEqual([400, 'HERALD_ERR_STREAM_BAD_LINE']);
    const json = await t.post('/streams/ai:e1', { token: 'x' });
    expect([json.status, json.body.error.code]).toEqual([415, 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE']);

    const first = new RawStreamProducer(t.url, 'ai:e2', key);
    first.tokens(['a']);
    await waitFor(async () => (await t.server.ctx.streams.buffer.latest('ai:e2'))?.n === 1);
    expect(await code(new RawStreamProducer(t.url, 'ai:e2', key), { end: 'done' })).toEqual([
      409,
      'HERALD_ERR_STREAM_ACTIVE',
    ]);
    // Mid-stream errors end the answer with reason error and say why in the last line.
    first.sendRaw('{"nope":1}\n');
    expect(await code(first)).toEqual([200, 'HERALD_ERR_STREAM_BAD_LINE']);
    expect(first.lines.at(-1)).toMatchObject({ reason: 'error', n: 1 });

    const long = new RawStreamProducer(t.url, 'ai:e3', key);
    long.tokens(words(0, 1001)); // streamMaxTokens is 1000
    expect(await code(long, { end: 'done' })).toEqual([200, 'HERALD_ERR_STREAM_TOO_LONG']);

    const none = await fetch(`${t.url}/streams/ai:never?token=${reader}`);
    expect(none.status).toBe(403); // not granted
    const admin = await t.token('a', { channels: ['ai:never'] });
    const missing = await fetch(`${t.url}/streams/ai:never?token=${admin}`);
    expect([missing.status, await missing.json()]).toEqual([
      200,
      { stream: null, status: 'idle', text: '', n: 0 },
    ]);
  });
});
