import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeraldPublisher } from '@herald/client/node';
import {
  API_KEY,
  startServer,
  waitFor,
  type TestServer,
} from '../../../packages/server/test/helpers.js';
import { subscribe } from '../../../packages/server/test/stream-helpers.js';
import { relay } from '../src/relay.js';

/**
 * A small OpenAI-compatible streaming chat server (the real upstream cannot be reached from
 * the test machine): `POST /chat/completions` with `stream: true` answers SSE chunks
 * `{"choices":[{"delta":{"content":…}}]}`. It sends the tokens of `script` one per
 * `send()` call from the test, then `data: [DONE]` on `done()`.
 */
class FakeUpstream {
  private res: ServerResponse | undefined;
  requests: { auth: string | undefined; body: Record<string, unknown> }[] = [];
  aborted = false;
  readonly server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      this.requests.push({ auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { role: 'assistant' } }] })}\n\n`);
      this.res = res;
    });
    res.on('close', () => (this.aborted = !res.writableEnded));
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  get open(): boolean {
    return this.res !== undefined;
  }
  send(...tokens: string[]): void {
    for (const t of tokens) {
      this.res?.write(`data: ${JSON.stringify({ choices: [{ delta: { content: t } }] })}\n\n`);
    }
  }
  done(): void {
    this.res?.end('data: [DONE]\n\n');
    this.res = undefined;
  }
}

describe('examples/ai-relay', () => {
  let herald: TestServer;
  let upstream: FakeUpstream;
  let reader: string;
  beforeAll(async () => {
    herald = await startServer();
    upstream = new FakeUpstream();
    await new Promise<void>((r) => upstream.server.listen(0, '127.0.0.1', r));
    reader = await herald.token('u', { channels: ['ai:relay1', 'ai:relay2'] });
  });
  afterAll(async () => {
    upstream.server.closeAllConnections();
    await new Promise((r) => upstream.server.close(r));
    await herald.close();
  });

  const publisher = () => new HeraldPublisher({ url: herald.url, apiKey: API_KEY });
  const config = () => ({ url: upstream.url, apiKey: 'sk-test-upstream', model: 'tiny' });

  it('relays every streamed delta into the Herald stream, then ai_complete', async () => {
    const sub = subscribe(herald.url, 'ai:relay1', reader);
    await waitFor(() => sub.opens === 1);
    const answer = relay(config(), publisher(), 'ai:relay1', [{ role: 'user', content: 'hi' }]);
    await waitFor(() => upstream.open);
    expect(upstream.requests.at(-1)).toMatchObject({
      auth: 'Bearer sk-test-upstream',
      body: { model: 'tiny', stream: true, messages: [{ role: 'user', content: 'hi' }] },
    });
    upstream.send('Hel', 'lo', ', ', 'world');
    await waitFor(() => sub.tokens().length === 4);
    upstream.done();
    expect(await answer).toMatchObject({ n: 4, reason: 'done' });
    await waitFor(() => sub.got.some((g) => g.type === 'ai_complete'));
    sub.es.close();
    expect(sub.got[0]?.data).toMatchObject({ meta: { model: 'tiny' } });
    expect(sub.got.at(-1)?.data).toMatchObject({ text: 'Hello, world', n: 4, reason: 'done' });
  });

  it('aborts the upstream request when a reader cancels', async () => {
    const sub = subscribe(herald.url, 'ai:relay2', reader);
    await waitFor(() => sub.opens === 1);
    const answer = relay(config(), publisher(), 'ai:relay2', [{ role: 'user', content: 'go' }]);
    await waitFor(() => upstream.open);
    upstream.send('one ', 'two ');
    await waitFor(() => sub.tokens().length === 2);
    const res = await fetch(`${herald.url}/streams/ai:relay2/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(res.status).toBe(202);
    expect(await answer).toMatchObject({ n: 2, reason: 'cancelled' });
    await waitFor(() => upstream.aborted);
    await waitFor(() => sub.got.some((g) => g.type === 'ai_complete'));
    sub.es.close();
    expect(sub.got.at(-1)?.data).toMatchObject({ text: 'one two ', reason: 'cancelled' });
  });
});
