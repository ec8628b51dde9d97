import { EventSource } from 'eventsource';
import fc from 'fast-check';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { Herald, type HeraldEvent } from '../src/index.js';

// Whatever string a publisher sends is what a subscriber gets: `data` goes on the wire as its
// JSON text (docs/protocol.md#data), and both the `eventsource` package and the Herald client
// give it back exactly, CR, CRLF, NUL, U+2028 and lone surrogates included.

const COUNT = 10_000;
const CHANNEL = 'rt:strings';

/** Pieces SSE framing, UTF-8 and the stores find hard, to be concatenated and mixed. */
const hardPiece = fc.oneof(
  fc.constantFrom('\r', '\n', '\r\n', '\n\r', '\0', '\u2028', '\u2029', '\ufeff', ':', ' '),
  fc.constantFrom('data: x', 'id: 9', 'event: admin', '"', '\\', '\ufffd', '\u0085'),
  // Lone surrogates: a high one without its low one, a low one alone.
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
);
const strings = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 3 },
  { arbitrary: fc.string({ unit: hardPiece, maxLength: 12 }), weight: 3 },
  {
    arbitrary: fc.string({
      unit: fc.oneof(hardPiece, fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 3 })),
      maxLength: 20,
    }),
    weight: 2,
  },
  // Strings that look like other JSON values must not turn into them.
  { arbitrary: fc.constantFrom('123', 'null', 'true', '{"a":1}', '[1]', '"q"', ''), weight: 1 },
);

/** Ends with what the issue names explicitly, so they are always in the sample. */
const EXPLICIT = [
  'a\r\nb',
  'ends with CR\r',
  '\r',
  'x\0y',
  '\u2028',
  '\ud800',
  '\udc00',
  'a\ud83d',
];

let srv: TestServer;
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

beforeAll(async () => {
  srv = await startServer({ retryMs: 50, rateLimitPublishPerKey: 0, rateLimitPublishPerIp: 0 });
});
afterAll(async () => {
  agent.destroy();
  await srv.close();
});

function publish(data: string): Promise<{ status: number; body: any }> {
  // JSON.stringify escapes lone surrogates, so the body is valid UTF-8 whatever `data` is.
  const payload = JSON.stringify({ channel: CHANNEL, type: 's', data });
  return new Promise((resolve, reject) => {
    const req = request(
      `${srv.url}/publish`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-herald-key': API_KEY,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('string data round-trips exactly', () => {
  it(`publish then a stream read gives back each of ${COUNT} generated strings (eventsource and Herald)`, async () => {
    const values = [
      ...fc.sample(strings, { numRuns: COUNT - EXPLICIT.length, seed: 23 }),
      ...EXPLICIT,
    ];
    expect(values.some((v) => /[\ud800-\udfff]/.test(v))).toBe(true);
    expect(values.filter((v) => v.includes('\r')).length).toBeGreaterThan(100);

    const token = await srv.token('rt', { channels: [CHANNEL] });
    const viaEs = new Map<string, string>();
    const es = new EventSource(`${srv.url}/events?channels=${CHANNEL}&token=${token}`);
    es.addEventListener('s', (e) => viaEs.set(e.lastEventId, JSON.parse(e.data) as string));
    await new Promise<void>((r) => es.addEventListener('connected', () => r()));

    const viaHerald = new Map<string, unknown>();
    const herald = new Herald({ url: srv.url, channels: [CHANNEL], getToken: () => token });
    herald.on('event', (e: HeraldEvent) => {
      if (e.type === 's' && e.id !== undefined) viaHerald.set(e.id, e.data);
    });
    await waitFor(() => herald.state === 'connected', 5000, 'Herald connected');

    try {
      // Published 64 at a time; the ack's streamId is the id: line a stream of the channel
      // alone shows, so it names the value each client must have received under that id.
      const sent = new Map<string, string>();
      for (let i = 0; i < values.length; i += 64) {
        const batch = values.slice(i, i + 64);
        const acks = await Promise.all(batch.map(publish));
        acks.forEach((a, j) => {
          expect(a.status).toBe(202);
          sent.set(a.body.events[0].streamId as string, batch[j]!);
        });
      }
      expect(sent.size).toBe(values.length);
      await waitFor(
        () => viaEs.size === sent.size && viaHerald.size === sent.size,
        60_000,
        'every event on both clients',
      );
      const wrong = (got: Map<string, unknown>) =>
        [...sent].filter(([id, v]) => got.get(id) !== v).map(([id, v]) => [id, v, got.get(id)]);
      expect(wrong(viaEs)).toEqual([]);
      expect(wrong(viaHerald)).toEqual([]);
    } finally {
      es.close();
      herald.close();
    }
  }, 120_000);

  it('refuses a body that is not JSON (bytes go base64-encoded inside data)', async () => {
    const res = await fetch(`${srv.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-herald-key': API_KEY },
      body: new Uint8Array([0, 1, 2, 255]),
    });
    expect(res.status).toBe(415);
    expect((await res.json()).error.code).toBe('HERALD_ERR_UNSUPPORTED_MEDIA_TYPE');
  });
});
