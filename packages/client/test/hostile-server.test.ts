import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../server/test/helpers.js';
import { Herald, HeraldClientError } from '../src/index.js';

// A raw TCP server that answers each stream request with whatever the test scripts: the
// wire is what matters here, so no HTTP library stands between it and the client.
type Script = (socket: Socket, attempt: number, head: string) => void;
let script: Script = () => undefined;
let attempts = 0;
const sockets = new Set<Socket>();
let server: Server;
let url = '';
let channel = 'x';

const HEAD =
  'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n';
/** The connected event of a stream over this test's channel, at position `seq`. */
const connected = (seq = 0) =>
  `event: connected\nid: T.${seq}\ndata: {"connectionId":"c","channels":["${channel}"]}\n\n`;

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (head) => {
      // Only this test's client counts (a closed client of the test before may still knock).
      if (head.toString('latin1').includes(`channels=${channel}`)) {
        const text = head.toString('latin1');
        script(socket, attempts++, text);
      } else socket.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

let seq = 0;
function client(extra: ConstructorParameters<typeof Herald>[0] = {}) {
  attempts = 0;
  channel = `x${seq++}`;
  const h = new Herald({
    url,
    channels: [channel],
    minReconnectDelayMs: 10,
    maxReconnectDelayMs: 50,
    transport: 'fetch',
    ...extra,
  });
  const errors: HeraldClientError[] = [];
  const events: unknown[] = [];
  h.on('error', (e) => errors.push(e));
  h.on('event', (e) => events.push(e.data));
  return { h, errors, events };
}

describe('a hostile or broken server', () => {
  it('malformed frames: garbage, bad UTF-8, non-JSON control data, forged fields', async () => {
    script = (s) => {
      s.write(HEAD);
      s.write('event: connected\ndata: {not json\n\n'); // a connected event that is not JSON
      s.write(Buffer.from([0xff, 0xfe, 0x0a, 0x0a])); // invalid UTF-8, then a blank line
      s.write('nonsense without colon\n:comment\nretry: -5\nid: a\0b\n\n');
      s.write('data: x\r\rdata: y\r\n\r\n'); // CR line ends: two events
      s.write('event: reset\ndata: 42\n\n'); // a reset whose data is not an object
      s.write('data: last\n\n');
    };
    const { h, events, errors } = client();
    await waitFor(() => events.includes('last'));
    expect(events).toEqual(['x', 'y', 'last']);
    expect(errors.map((e) => e.code)).toEqual(['reset']);
    h.close();
  });

  it('an oversized event: a too-large error, the memory let go, a reconnect', async () => {
    script = (s, n) => {
      s.write(HEAD + connected());
      if (n === 0) {
        const chunk = 'x'.repeat(64 * 1024);
        s.write('data: ');
        for (let i = 0; i < 64; i++) s.write(chunk); // 4 MiB, no line end, over the 64 KiB bound
      } else s.write('data: small\n\n');
    };
    const { h, events, errors } = client({ maxEventSize: 64 * 1024 });
    await waitFor(() => events.includes('small'));
    expect(errors.some((e) => e.code === 'too-large')).toBe(true);
    expect(attempts).toBe(2);
    h.close();
  });

  it('a server that stalls mid-event: dropped after stallTimeoutMs, reconnected', async () => {
    script = (s, n) => {
      s.write(HEAD + connected());
      if (n === 0)
        s.write('event: half\ndata: never finish'); // and then silence
      else s.write('data: after\n\n');
    };
    const { h, events, errors } = client({ stallTimeoutMs: 300 });
    await waitFor(() => events.includes('after'));
    expect(events).toEqual(['after']); // the half event is never delivered
    expect(errors.some((e) => e.code === 'stall')).toBe(true);
    h.close();
  });

  it('an answer that is not an event stream: a protocol error, then polling after N', async () => {
    script = (s) => {
      s.end('HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html>');
    };
    const { h, errors } = client({ transport: 'auto', pollAfterFailures: 2 });
    await waitFor(() => errors.filter((e) => e.code === 'protocol').length >= 3);
    // two stream failures, then the poll route, which this server answers with HTML too
    expect(h.transport).toBe('poll');
    h.close();
  });

  it('a proxy 403 without a Herald body is not fatal; a Herald 403 is', async () => {
    script = (s) =>
      s.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n' +
          '{"error":{"code":"HERALD_ERR_FORBIDDEN_CHANNEL","message":"no"}}',
      );
    const { h, errors } = client();
    await waitFor(() => h.state === 'disconnected');
    expect(h.reason?.code).toBe('HERALD_ERR_FORBIDDEN_CHANNEL');
    expect(errors[0]).toMatchObject({ code: 'HERALD_ERR_FORBIDDEN_CHANNEL', status: 403 });
    expect(attempts).toBe(1);
    h.close();
  });

  it('token-expired: a fresh token from getToken, the same cursor, no event lost', async () => {
    const heads: string[] = [];
    script = (s, n, head) => {
      heads.push(head);
      if (n === 0) {
        s.write(HEAD + connected() + 'id: T.1\ndata: one\n\n');
        s.write('event: token-expired\ndata: {"code":"HERALD_ERR_TOKEN_EXPIRED"}\n\n');
      } else s.write(HEAD + connected(1) + 'id: T.2\ndata: two\n\n');
    };
    let calls = 0;
    const { h, events } = client({ getToken: () => `token-${++calls}` });
    await waitFor(() => events.includes('two'));
    expect(events).toEqual(['one', 'two']);
    expect(calls).toBe(2);
    expect(heads[0]).toMatch(/authorization: Bearer token-1/i);
    expect(heads[1]).toMatch(/authorization: Bearer token-2/i);
    expect(heads[1]).toMatch(/last-event-id: T\.1/i);
    h.close();
  });

  it('shutdown: back after its retryMs; evicted: stops for good', async () => {
    script = (s, n) => {
      s.write(HEAD + connected());
      if (n === 0) s.end('event: shutdown\ndata: {"reason":"server-shutdown","retryMs":200}\n\n');
      else
        s.end(
          'event: evicted\ndata: {"code":"HERALD_ERR_TOO_MANY_CONNECTIONS","reason":"newer-connection"}\n\n',
        );
    };
    const { h } = client();
    const states: string[] = [];
    h.on('state', (st) => states.push(`${st.state}:${st.reason?.code}`));
    await waitFor(() => h.state === 'disconnected');
    expect(states).toEqual([
      'connected:connected',
      'reconnecting:server-shutdown',
      'connected:connected',
      'disconnected:evicted',
    ]);
    expect(attempts).toBe(2);
    h.close();
  });
});
