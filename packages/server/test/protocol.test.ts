import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelTag } from '../src/hub/cursor.js';
import { readBody, startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

/**
 * The protocol additions the client relies on: the `channel:` line of every event frame,
 * per-channel cursors (in `connected`, and as a resume cursor), and `GET /poll`.
 */

interface PollEvent {
  id?: string;
  event: string;
  channel: string;
  data: string;
}
interface PollBody {
  events: PollEvent[];
  resets: { reason: string; channels: string[] }[];
  cursor: string;
  cursors: Record<string, string>;
  retryMs: number;
  more: boolean;
}
interface Answer<B = PollBody> {
  status: number;
  headers: IncomingHttpHeaders;
  body: B;
}

/** GET /poll (or any path) with its own connection; `abort` drops it mid-request. */
function get<B = PollBody>(
  url: string,
  headers: Record<string, string> = {},
): { done: Promise<Answer<B>>; abort: () => void } {
  let abort = () => {};
  const done = new Promise<Answer<B>>((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) =>
      readBody(res, (body) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as B }),
      ),
    );
    abort = () => req.destroy();
    req.on('error', reject);
    req.end();
  });
  return { done, abort };
}

const poll = (url: string, headers: Record<string, string> = {}) => get(url, headers).done;

/** Positions of a composite cursor, in sorted channel order. */
function seqsOf(cursor: string): number[] {
  return cursor
    .split('.')
    .slice(1)
    .map((s) => parseInt(s, 36));
}

/** The per-channel form from each channel's own tag and last seen sequence. */
function perChannel(entries: Record<string, { tag: string; seq: number }>): string {
  return Object.entries(entries)
    .map(([channel, { tag, seq }]) => `${channel}=${tag}.${seq.toString(36)}`)
    .join(',');
}

const tagOf = (channelCursor: string) => channelCursor.split('.')[0]!;

function connectedData(s: RawSse): { channels: string[]; cursors: Record<string, string> } {
  return JSON.parse(s.of('connected')[0]!.data);
}

/** Timers alive in this process (the server's shared ones and any a poll forgot). */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('protocol additions', () => {
  let t: TestServer;
  let token: string;
  let auth: Record<string, string>;
  const publish = async (channel: string, data: unknown, extra: Record<string, unknown> = {}) => {
    const res = await t.post('/publish', { channel, type: 'n', data, ...extra });
    expect(res.status).toBe(202);
    return res.body.events[0] as { seq?: number };
  };

  beforeAll(async () => {
    t = await startServer({ retryMs: 1500, pollMaxEvents: 5, pollWaitMs: 20_000 });
    token = await t.token('proto', { channels: ['p:*'] });
    auth = { authorization: `Bearer ${token}` };
  });
  afterAll(async () => {
    await t.close();
  });

  describe('the channel: line', () => {
    it('is on every durable and ephemeral frame, after event: and before data: (raw socket)', async () => {
      const socket = connect(t.port, '127.0.0.1');
      let raw = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (raw += chunk));
      socket.write(
        `GET /events?channels=p:raw,p:raw2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
      await waitFor(() => raw.includes('retry: 1500'), 5000, 'stream start');
      await publish('p:raw', 'line one\r\nline two');
      await publish('p:raw2', { n: 1 }, { durable: false, type: 'tick' });
      await waitFor(() => raw.includes('event: tick'), 5000, 'events');
      socket.destroy();
      const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      const connected = /event: connected\nid: ([^\n]+)\ndata: ([^\n]+)\n\n/.exec(body);
      expect(connected).not.toBeNull();
      // Control events carry no channel line.
      expect(body).not.toMatch(/event: connected\nchannel:/);
      const tag = connected![1]!.split('.')[0];
      expect(body).toContain(
        // String data goes out JSON-encoded: one data: line, the CRLF escaped, not lost.
        `\n\nid: ${tag}.1.0\nevent: n\nchannel: p:raw\ndata: "line one\\r\\nline two"\n\n`,
      );
      expect(body).toContain('\n\nevent: tick\nchannel: p:raw2\ndata: {"n":1}\n\n');
    });

    it('leaves the eventsource package unchanged: same types, data and ids', async () => {
      const es = new EventSource(`${t.url}/events?channels=p:es1,p:es2&token=${token}`);
      const got: MessageEvent[] = [];
      es.addEventListener('n', (e) => got.push(e));
      await new Promise<void>((r) => es.addEventListener('connected', () => r()));
      await publish('p:es1', 'a');
      await publish('p:es2', 'multi\nline');
      await waitFor(() => got.length === 2, 5000, 'eventsource events');
      es.close();
      expect(got.map((e) => e.data)).toEqual(['"a"', '"multi\\nline"']);
      expect(got.map((e) => JSON.parse(e.data) as unknown)).toEqual(['a', 'multi\nline']);
      expect(got.map((e) => seqsOf(e.lastEventId))).toEqual([
        [1, 0],
        [1, 1],
      ]);
    });
  });

  describe('per-channel cursors', () => {
    it('are in connected: each channel alone, tagged by its own epoch', async () => {
      await publish('p:c1', 1);
      await publish('p:c1', 2);
      const s = await RawSse.open(`${t.url}/events?channels=p:c2,p:c1`, auth);
      await waitFor(() => s.of('connected').length === 1);
      s.close();
      const { cursors } = connectedData(s);
      expect(Object.keys(cursors).sort()).toEqual(['p:c1', 'p:c2']);
      const heads = await t.server.hub.store.ensureChannels(['p:c1', 'p:c2']);
      expect(cursors['p:c1']).toBe(`${channelTag('p:c1', heads[0]!.epoch)}.2`);
      expect(cursors['p:c2']).toBe(`${channelTag('p:c2', heads[1]!.epoch)}.0`);
      // One channel alone: its own cursor is the composite one.
      const one = await RawSse.open(`${t.url}/events?channels=p:c1`, auth);
      await waitFor(() => one.of('connected').length === 1);
      one.close();
      expect(connectedData(one).cursors['p:c1']).toBe(one.of('connected')[0]!.id);
    });

    it('resume a changed channel set: kept channels lose nothing under concurrent publishing, an added one starts at now', async () => {
      const [a, b, c] = ['p:keep', 'p:drop', 'p:add'];
      const first = await RawSse.open(`${t.url}/events?channels=${a},${b}`, auth);
      await waitFor(() => first.of('connected').length === 1);
      const tags = connectedData(first).cursors;
      const acked: Record<string, number> = { [a]: 0, [b]: 0, [c]: 0 };
      let stop = false;
      let published = 0;
      const publisher = (async () => {
        for (let i = 0; !stop; i++) {
          const channel = [a, b, c][i % 3]!;
          const { seq } = await publish(channel, { i });
          acked[channel] = Math.max(acked[channel]!, seq!);
          published++;
        }
      })();
      await waitFor(() => first.of('n').length >= 20, 10_000, 'first stream events');
      first.close();
      const seen = (s: RawSse, channels: string[], channel: string) =>
        s
          .of('n')
          .filter((e) => e.channel === channel)
          // Positions are in sorted channel order.
          .map((e) => seqsOf(e.id!)[[...channels].sort().indexOf(channel)]!);
      // The client's own bookkeeping: the last sequence per channel, from the channel line.
      const firstA = seen(first, [a, b], a);
      const firstB = seen(first, [a, b], b);
      const mark = published;
      await waitFor(() => published >= mark + 30, 10_000, 'events while away');
      const cursor = perChannel({
        [a]: { tag: tagOf(tags[a]!), seq: firstA.at(-1) ?? 0 },
        [b]: { tag: tagOf(tags[b]!), seq: firstB.at(-1) ?? 0 },
      });
      const second = await RawSse.open(`${t.url}/events?channels=${a},${c}`, {
        ...auth,
        'last-event-id': cursor,
      });
      await waitFor(() => second.of('connected').length === 1);
      const start = published;
      await waitFor(() => published >= start + 30, 10_000, 'events after resume');
      stop = true;
      await publisher;
      const secondA = () => seen(second, [a, c], a);
      const secondC = () => seen(second, [a, c], c);
      await waitFor(
        () => secondA().at(-1) === acked[a] && secondC().at(-1) === acked[c],
        10_000,
        'every event on the second stream',
      );
      second.close();
      expect(second.of('reset')).toEqual([]);
      // Every event of the kept channel exactly once over both streams, in order.
      const all = [...firstA, ...secondA()];
      expect(all).toEqual(Array.from({ length: acked[a]! }, (_, i) => i + 1));
      // The added channel starts where connected says, and nothing after it is missed.
      const startC = seqsOf(connectedData(second).cursors[c]!)[0]!;
      expect(startC).toBeGreaterThan(0);
      expect(secondC()).toEqual(
        Array.from({ length: acked[c]! - startC }, (_, i) => startC + i + 1),
      );
    });

    it('reset per channel: a foreign tag, a position ahead, a malformed form; other entries ignored', async () => {
      const [a, b] = ['p:ra', 'p:rb'];
      for (let i = 1; i <= 3; i++) {
        await publish(a, `a${i}`);
        await publish(b, `b${i}`);
      }
      const s = await RawSse.open(`${t.url}/events?channels=${a},${b}`, auth);
      await waitFor(() => s.of('connected').length === 1);
      s.close();
      const tags = connectedData(s).cursors;
      const tagA = tagOf(tags[a]!);
      const tagB = tagOf(tags[b]!);
      const resume = async (cursor: string, expectN: number) => {
        const r = await RawSse.open(`${t.url}/events?channels=${a},${b}`, {
          ...auth,
          'last-event-id': cursor,
        });
        await waitFor(() => r.retry !== undefined && r.of('n').length >= expectN);
        // One more event on each channel shows what is live after the replay.
        r.close();
        return {
          resets: r.of('reset').map((e) => JSON.parse(e.data)),
          data: r.of('n').map((e) => JSON.parse(e.data) as unknown),
        };
      };
      const mismatch = await resume(`${a}=AAAAAAAA.1,${b}=${tagB}.1`, 2);
      expect(mismatch.resets).toEqual([{ reason: 'cursor-mismatch', channels: [a] }]);
      expect(mismatch.data).toEqual(['b2', 'b3']);

      const ahead = await resume(`${a}=${tagA}.zz`, 0);
      expect(ahead.resets).toEqual([{ reason: 'invalid-cursor', channels: [a] }]);
      expect(ahead.data).toEqual([]);

      const malformed = await resume(`${a}=${tagA}.1,${b}`, 0);
      expect(malformed.resets).toEqual([{ reason: 'invalid-cursor', channels: [a, b] }]);

      const foreign = await resume(`p:other=AAAAAAAA.1,${a}=${tagA}.1`, 2);
      expect(foreign.resets).toEqual([]);
      expect(foreign.data).toEqual(['a2', 'a3']);

      const tooLong = await resume(`${a}=${tagA}.1,p:x=${'a'.repeat(t.config.maxCursorLength)}`, 0);
      expect(tooLong.resets).toEqual([{ reason: 'invalid-cursor', channels: [a, b] }]);
    });
  });

  describe('GET /poll', () => {
    const url = (query: string) => `${t.url}/poll?${query}`;

    it('answers at once without a cursor: no events, the current cursor', async () => {
      await publish('p:now', 'old');
      const r = await poll(url('channels=p:now,p:now2'), auth);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.body.events).toEqual([]);
      expect(r.body.resets).toEqual([]);
      expect(r.body.more).toBe(false);
      expect(r.body.retryMs).toBe(1500);
      expect(seqsOf(r.body.cursor)).toEqual([1, 0]);
      expect(Object.keys(r.body.cursors)).toEqual(['p:now', 'p:now2']);
      expect(seqsOf(r.body.cursors['p:now']!)).toEqual([1]);
      expect(t.server.hub.sessions.size).toBe(0);
      expect(t.server.hub.channelCount).toBe(0);
    });

    it('answers the events after the cursor at once, as the stream frames them', async () => {
      const start = (await poll(url('channels=p:back,p:back2'), auth)).body.cursor;
      await publish('p:back', 'one\r\ntwo\rthree');
      await publish('p:back2', { x: 1 }, { type: 'other' });
      const r = await poll(url(`channels=p:back,p:back2&lastEventId=${start}`), auth);
      expect(r.status).toBe(200);
      expect(r.body.resets).toEqual([]);
      expect(r.body.more).toBe(false);
      expect(r.body.events.map(({ id, ...rest }) => ({ rest, seqs: seqsOf(id!) }))).toEqual([
        { rest: { event: 'n', channel: 'p:back', data: '"one\\r\\ntwo\\rthree"' }, seqs: [1, 0] },
        { rest: { event: 'other', channel: 'p:back2', data: '{"x":1}' }, seqs: [1, 1] },
      ]);
      expect(r.body.cursor).toBe(r.body.events[1]!.id);
      // The same cursor works on the stream, and the stream has nothing more to replay.
      const s = await RawSse.open(`${t.url}/events?channels=p:back,p:back2`, {
        ...auth,
        'last-event-id': r.body.cursor,
      });
      await waitFor(() => s.retry !== undefined);
      s.close();
      expect(s.of('reset')).toEqual([]);
      expect(s.of('connected')[0]!.id).toBe(r.body.cursor);
    });

    it('holds a poll with nothing new and answers it with the next live events, ephemeral too', async () => {
      const start = (await poll(url('channels=p:live,p:live2'), auth)).body.cursor;
      const held = poll(url(`channels=p:live,p:live2`), { ...auth, 'last-event-id': start });
      await waitFor(() => t.server.hub.channelSubscribers().some((c) => c.channel === 'p:live2'));
      await publish('p:live2', { tick: 1 }, { durable: false, type: 'tick' });
      const r = await held;
      expect(r.status).toBe(200);
      expect(r.body.events).toEqual([{ event: 'tick', channel: 'p:live2', data: '{"tick":1}' }]);
      expect(r.body.cursor).toBe(start);
      // Durable: the answer's cursor moves past it.
      const again = poll(url(`channels=p:live,p:live2`), { ...auth, 'last-event-id': start });
      await waitFor(() => t.server.hub.channelSubscribers().some((c) => c.channel === 'p:live'));
      await publish('p:live', 'stored');
      const r2 = await again;
      expect(r2.body.events.map((e) => [e.channel, e.data])).toEqual([['p:live', '"stored"']]);
      expect(seqsOf(r2.body.cursor)).toEqual([1, 0]);
      expect(r2.body.cursors['p:live']).toMatch(/\.1$/);
      await waitFor(() => t.server.hub.sessions.size === 0 && t.server.hub.channelCount === 0);
    });

    it('?wait=0 answers at once, ?wait=N after N ms, both empty with the cursor as given', async () => {
      const start = (await poll(url('channels=p:wait'), auth)).body.cursor;
      const r0 = await poll(url(`channels=p:wait&wait=0&lastEventId=${start}`), auth);
      expect(r0.body).toMatchObject({ events: [], resets: [], cursor: start, more: false });
      const t0 = Date.now();
      const r1 = await poll(url(`channels=p:wait&wait=300&lastEventId=${start}`), auth);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(r1.body).toMatchObject({ events: [], resets: [], cursor: start, more: false });
    });

    it('pages a long backlog with more: true, every event once, in per-channel order', async () => {
      const start = (await poll(url('channels=p:page,p:page2'), auth)).body.cursor;
      for (let i = 1; i <= 12; i++) await publish('p:page', i);
      for (let i = 1; i <= 3; i++) await publish('p:page2', -i);
      let cursor = start;
      const got: PollEvent[] = [];
      const answers: boolean[] = [];
      for (let n = 0; n < 10; n++) {
        const r = await poll(url(`channels=p:page,p:page2&wait=0`), {
          ...auth,
          'last-event-id': cursor,
        });
        expect(r.body.events.length).toBeLessThanOrEqual(5);
        got.push(...r.body.events);
        answers.push(r.body.more);
        cursor = r.body.cursor;
        if (!r.body.more) break;
      }
      // 5 + 5, then the last 2 of p:page and the 3 of p:page2: the backlog ends with the answer.
      expect(answers).toEqual([true, true, false]);
      expect(got.filter((e) => e.channel === 'p:page').map((e) => e.data)).toEqual(
        Array.from({ length: 12 }, (_, i) => String(i + 1)),
      );
      expect(got.filter((e) => e.channel === 'p:page2').map((e) => e.data)).toEqual([
        '-1',
        '-2',
        '-3',
      ]);
      expect(seqsOf(cursor)).toEqual([12, 3]);
    });

    it('answers resets at once: bad, foreign or ahead cursors, composite or per channel', async () => {
      await publish('p:rs', 'x');
      const first = await poll(url('channels=p:rs,p:rs2'), auth);
      const tag = tagOf(first.body.cursors['p:rs']!);
      const cases: [string, { reason: string; channels: string[] }[]][] = [
        ['garbage', [{ reason: 'invalid-cursor', channels: ['p:rs', 'p:rs2'] }]],
        ['AAAAAAAA.0.0', [{ reason: 'cursor-mismatch', channels: ['p:rs', 'p:rs2'] }]],
        [`p:rs=AAAAAAAA.0`, [{ reason: 'cursor-mismatch', channels: ['p:rs'] }]],
        [`p:rs=${tag}.5`, [{ reason: 'invalid-cursor', channels: ['p:rs'] }]],
        [
          'x'.repeat(t.config.maxCursorLength + 1),
          [{ reason: 'invalid-cursor', channels: ['p:rs', 'p:rs2'] }],
        ],
      ];
      for (const [cursor, resets] of cases) {
        const r = await poll(url('channels=p:rs,p:rs2'), { ...auth, 'last-event-id': cursor });
        expect(r.status).toBe(200);
        expect(r.body.resets).toEqual(resets);
        expect(r.body.events).toEqual([]);
        expect(r.body.cursor).toBe(first.body.cursor);
      }
      // A per-channel cursor that lists one channel answers for that one (as ?lastEventId=,
      // with "=" and "," left unencoded, and encoded).
      for (const given of [`p:rs=${tag}.0`, encodeURIComponent(`p:rs=${tag}.0,p:zz=${tag}.0`)]) {
        const ok = await poll(url(`channels=p:rs,p:rs2&lastEventId=${given}`), auth);
        expect(ok.body.resets).toEqual([]);
        expect(ok.body.events.map((e) => e.data)).toEqual(['"x"']);
      }
    });

    it('refuses like /events: 401, 403, and bad input with the documented codes', async () => {
      const code = async (path: string, headers: Record<string, string> = auth) => {
        const r = await poll(`${t.url}${path}`, headers);
        return [r.status, (r.body as unknown as { error: { code: string } }).error.code];
      };
      expect(await code('/poll?channels=p:x', {})).toEqual([401, 'HERALD_ERR_UNAUTHENTICATED']);
      expect(await code('/poll?channels=p:x', { authorization: 'Bearer nope' })).toEqual([
        401,
        'HERALD_ERR_TOKEN_INVALID',
      ]);
      expect(await code('/poll?channels=user:someone')).toEqual([
        403,
        'HERALD_ERR_FORBIDDEN_CHANNEL',
      ]);
      expect(await code('/poll')).toEqual([400, 'HERALD_ERR_BAD_REQUEST']);
      expect(await code('/poll?channels=a::b')).toEqual([400, 'HERALD_ERR_INVALID_CHANNEL']);
      const many = Array.from(
        { length: t.config.maxChannelsPerConnection + 1 },
        (_, i) => `p:${i}`,
      );
      expect(await code(`/poll?channels=${many.join(',')}`)).toEqual([
        400,
        'HERALD_ERR_TOO_MANY_CHANNELS',
      ]);
      for (const wait of ['abc', '-1', '1.5', '', '9999999999']) {
        expect(await code(`/poll?channels=p:x&wait=${wait}`)).toEqual([
          400,
          'HERALD_ERR_BAD_REQUEST',
        ]);
      }
      // The query token works as on /events.
      const r = await poll(`${t.url}/poll?channels=p:x&token=${token}`);
      expect(r.status).toBe(200);
      expect(t.server.hub.sessions.size).toBe(0);
    });

    it('answers a held poll whose token expires as if its wait ended; the next one is 401', async () => {
      const short = { authorization: `Bearer ${await t.token('proto', { ttlSec: 2 })}` };
      const start = (await poll(url('channels=user:proto'), short)).body.cursor;
      const r = await poll(url('channels=user:proto'), { ...short, 'last-event-id': start });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ events: [], resets: [], cursor: start });
      const after = await poll(url('channels=user:proto'), short);
      expect(after.status).toBe(401);
      expect((after.body as unknown as { error: { code: string } }).error.code).toBe(
        'HERALD_ERR_TOKEN_EXPIRED',
      );
    });

    it('answers 503 with Retry-After on a draining node', async () => {
      t.server.ctx.draining = true;
      try {
        const r = await poll(url('channels=p:x'), auth);
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('2');
        expect((r.body as unknown as { error: { code: string } }).error.code).toBe(
          'HERALD_ERR_SHUTTING_DOWN',
        );
      } finally {
        t.server.ctx.draining = false;
      }
    });

    it('counts as a short-lived connection in the metrics', async () => {
      await poll(url('channels=p:m'), auth);
      const text = (await t.server.app.inject({ url: '/metrics' })).body;
      expect(text).toMatch(/herald_disconnects_total\{reason="poll-answered"\} [1-9]/);
    });
  });
});

describe('GET /poll holds nothing once answered', () => {
  // Its own server, published to in-process and polled over fresh connections, so that the
  // only timers that come and go are the poll's own (no keep-alive sockets).
  let t: TestServer;
  let auth: Record<string, string>;
  beforeAll(async () => {
    t = await startServer({ pollWaitMs: 20_000 });
    auth = { authorization: `Bearer ${await t.token('h', { channels: ['h:*'] })}` };
  });
  afterAll(async () => {
    await t.close();
  });
  const idle = () => t.server.hub.sessions.size === 0 && t.server.hub.channelCount === 0;

  it('after an answer, a live answer, a timeout, and a client that gives up', async () => {
    const url = `${t.url}/poll?channels=h:a,h:b`;
    let from = (await poll(url, auth)).body.cursor;
    // The server's own timers are unref'd (not listed); a closing socket's may linger a moment.
    await waitFor(() => idle() && timers() === 0);
    const before = 0;
    const hold = (extra = '') => get(url + extra, { ...auth, 'last-event-id': from });

    const live = hold();
    await waitFor(() => t.server.hub.sessions.size === 1);
    expect(timers()).toBe(before + 1);
    await t.server.hub.publish([{ channel: 'h:b', type: 'n', data: '1', durable: true }]);
    const answered = (await live.done).body;
    expect(answered.events).toHaveLength(1);
    from = answered.cursor;
    await waitFor(idle);
    expect(timers()).toBe(before);

    const timeout = await hold('&wait=50').done;
    expect(timeout.body.events).toHaveLength(0);
    await waitFor(idle);
    expect(timers()).toBe(before);

    const gone = hold();
    gone.done.catch(() => undefined);
    await waitFor(() => t.server.hub.sessions.size === 1 && t.server.hub.channelCount === 2);
    gone.abort();
    await waitFor(idle);
    await waitFor(() => timers() === before, 5000, 'the wait timer to be cleared');
  });
});

describe('GET /poll: retention, rate limits and shutdown', () => {
  it('answers expired for a cursor older than retention, with what is still kept', async () => {
    const t = await startServer();
    try {
      const token = await t.token('r', { channels: ['old'] });
      const auth = { authorization: `Bearer ${token}` };
      const start = await poll(`${t.url}/poll?channels=old`, auth);
      for (let i = 1; i <= 6; i++) await t.post('/publish', { channel: 'old', data: String(i) });
      await t.server.hub.store.trim({ maxAgeMs: 0, maxEvents: 2 }, Date.now());
      for (const cursor of [start.body.cursor, `old=${start.body.cursors['old']}`]) {
        const r = await poll(`${t.url}/poll?channels=old`, { ...auth, 'last-event-id': cursor });
        expect(r.body.resets).toEqual([{ reason: 'expired', channels: ['old'] }]);
        expect(r.body.events.map((e) => e.data)).toEqual(['"5"', '"6"']);
      }
    } finally {
      await t.close();
    }
  });

  it('applies the connection rate limits (429 with Retry-After)', async () => {
    const t = await startServer({ rateLimitConnectPerIp: 3 });
    try {
      const token = await t.token('r', { channels: ['rl'] });
      const statuses: number[] = [];
      let last: Answer<unknown> | undefined;
      for (let i = 0; i < 4; i++) {
        last = await get<unknown>(`${t.url}/poll?channels=rl`, {
          authorization: `Bearer ${token}`,
        }).done;
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(Number(last!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((last!.body as { error: { code: string } }).error.code).toBe(
        'HERALD_ERR_RATE_LIMITED',
      );
    } finally {
      await t.close();
    }
  });

  it('answers a held poll at once on close, while the streams are still being drained', async () => {
    const t = await startServer({ drainWindowMs: 3000, shutdownGraceMs: 10_000 });
    const token = await t.token('d', { channels: ['dr'] });
    const auth = { authorization: `Bearer ${token}` };
    const streams = await Promise.all(
      [0, 1, 2].map(() => RawSse.open(`${t.url}/events?channels=dr`, auth)),
    );
    await waitFor(() => streams.every((s) => s.of('connected').length === 1));
    const start = streams[0]!.of('connected')[0]!.id!;
    const held = poll(`${t.url}/poll?channels=dr`, { ...auth, 'last-event-id': start });
    await waitFor(() => t.server.hub.sessions.size === 4);
    const closing = t.close();
    const r = await held;
    // Answered while the drain is still spreading the streams' closes over its window.
    const open = streams.filter((s) => s.of('shutdown').length === 0).length;
    expect(open).toBeGreaterThan(0);
    expect(r.status).toBe(200);
    expect(r.headers['connection']).toBe('close');
    expect(r.body).toMatchObject({ events: [], resets: [], cursor: start });
    await closing;
    await waitFor(() => streams.every((s) => s.of('shutdown').length === 1));
  });
});
