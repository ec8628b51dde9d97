// Checks the bench's wire parsers against hand-written cases, split at every byte boundary,
// then both subscriber readers (the JS pool and the native one) against a local SSE server.
// Run: node bench/selftest.js
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { NativeSubscriberPool, buildNativeReader } from './lib/native-pool.js';
import { ramp } from './lib/scenarios.js';
import { ChunkedDecoder, SseParser } from './lib/sse-parser.js';
import { SeqWindow, clockMs } from './lib/stats.js';
import { SubscriberPool } from './lib/subscribers.js';

/**
 * The ramp: rates x2 from 1; `outcomes` says, per step in order, 'pass', 'near' (failed, a near
 * miss) or 'fail'. Returns the rates run and the best passing rate.
 */
async function rampWith(outcomes) {
  const rates = [];
  const r = await ramp(
    1,
    2,
    6,
    async (rate) => {
      const o = outcomes[rates.length] ?? 'fail';
      rates.push(rate);
      return { pass: o === 'pass', near: o === 'near', deliveriesPerSec: rate };
    },
    () => true,
    (s) => s.near,
  );
  return { rates, best: r.best?.deliveriesPerSec ?? null };
}
// A plain failure stops the ramp; the bisection lies between the last pass and that failure.
assert.deepEqual(await rampWith(['pass', 'pass', 'fail', 'pass']), {
  rates: [1, 2, 4, Math.sqrt(8)],
  best: Math.sqrt(8),
});
// A near miss gets one more step, and a pass there goes on with the ramp.
assert.deepEqual(await rampWith(['pass', 'near', 'pass', 'pass', 'fail', 'fail']), {
  rates: [1, 2, 4, 8, 16, Math.sqrt(128)],
  best: 8,
});
// Two failures in a row stop it; the bisection is below the first of them.
assert.deepEqual(await rampWith(['pass', 'near', 'near', 'pass', 'pass']), {
  rates: [1, 2, 4, Math.sqrt(2)],
  best: Math.sqrt(2),
});

// A first step that fails steps down until one passes; the bisection lies above that pass.
assert.deepEqual(await rampWith(['fail', 'fail', 'pass', 'pass']), {
  rates: [1, 0.5, 0.25, Math.sqrt(0.25)],
  best: 0.5,
});
// Nothing passes: three steps down, no capacity.
assert.deepEqual(await rampWith(['fail', 'fail', 'fail', 'fail']), {
  rates: [1, 0.5, 0.25, 0.125],
  best: null,
});

function parseAll(pieces) {
  const out = [];
  const p = new SseParser((type, data, id) => out.push({ type, data, id }));
  for (const piece of pieces) p.push(Buffer.from(piece));
  return out;
}

function everySplit(text, expected) {
  const bytes = Buffer.from(text);
  assert.deepEqual(parseAll([bytes]), expected, 'whole');
  for (let i = 0; i <= bytes.length; i++) {
    assert.deepEqual(parseAll([bytes.subarray(0, i), bytes.subarray(i)]), expected, `split ${i}`);
  }
  // one byte at a time
  assert.deepEqual(parseAll([...bytes].map((b) => Buffer.from([b]))), expected, 'bytewise');
}

// The WHATWG spec examples and edge cases.
everySplit('data: YHOO\ndata: +2\ndata: 10\n\n', [
  { type: 'message', data: 'YHOO\n+2\n10', id: '' },
]);
everySplit(
  ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n',
  [
    { type: 'message', data: 'first event', id: '1' },
    { type: 'message', data: 'second event', id: '' },
    { type: 'message', data: ' third event', id: '' },
  ],
);
everySplit('data\n\ndata\ndata\n\ndata:\n', [
  { type: 'message', data: '', id: '' },
  { type: 'message', data: '\n', id: '' },
]);
everySplit('event: add\r\ndata: a\r\n\r\nevent: x\rdata: b\r\rdata: c\n\n', [
  { type: 'add', data: 'a', id: '' },
  { type: 'x', data: 'b', id: '' },
  { type: 'message', data: 'c', id: '' },
]);
everySplit('\uFEFFid: 7\nevent: m\ndata: é€\n\nid: a\0b\ndata: z\n\n', [
  { type: 'm', data: 'é€', id: '7' },
  { type: 'message', data: 'z', id: '7' },
]);
// An event without data is not dispatched, and its type does not leak into the next one.
everySplit('event: ping\n\ndata: x\n\n', [{ type: 'message', data: 'x', id: '' }]);
// An unterminated event at the end is not dispatched.
everySplit('data: a\n\ndata: b\n', [{ type: 'message', data: 'a', id: '' }]);

// Chunked decoding, split everywhere; bytes after the body are left unconsumed.
{
  const wire = Buffer.from('5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\nNEXT');
  for (let i = 0; i <= wire.length; i++) {
    const parts = [];
    let ended = false;
    const d = new ChunkedDecoder(
      (b) => parts.push(Buffer.from(b)),
      () => (ended = true),
    );
    const a = d.push(wire.subarray(0, i));
    const b = ended ? 0 : d.push(wire.subarray(i));
    assert.equal(Buffer.concat(parts).toString(), 'hello, world');
    assert.ok(ended);
    assert.equal(a + b, wire.length - 4, `consumed at split ${i}`);
  }
}

// Sequence windows: duplicates, reordering, loss.
{
  const w = new SeqWindow(0);
  for (const s of [0, 2, 1, 1, 3, 5, 0]) w.record(s);
  assert.equal(w.uniq, 5);
  assert.equal(w.dups, 2);
  assert.equal(w.base, 4);
  w.record(10_000); // far ahead: the window slides
  assert.equal(w.uniq, 6);
}

// ---- Readers against a local server ----
//
// Four streams (two plain, two chunked) get the same events, written in pieces that end at
// awkward places (inside a field name, between CR and LF, inside a chunk-size line, between
// chunk data and its CRLF) with a pause after each, so that the reader sees them in separate
// reads. Three more subscribers fail: 401, no answer (timeout), connection closed before a
// head. Expected per stream: payloads with seq 0, 1 (two data lines), 2, 2 again (a
// duplicate), 4 (3 is lost) and 5 (fresh, written last); control events `ready`, `notice`
// (two data lines, CR line ends), `message` (empty data) and `two words`; `ping` has no
// data and is not dispatched.

const FUTURE = () => (clockMs() + 600_000).toFixed(3); // latency < 0: recorded as 0
const OLD = () => (clockMs() - 30_000.25).toFixed(3); // 30 s, in a 1 ms bucket
const ANCIENT = () => (clockMs() - 200_000).toFixed(3); // past 120 s: the last bucket
const payload = (seq, t) => `{"s":${seq},"t":${t},"p":"xxxxxxxx"}`;

/** The SSE text of one stream up to the fresh event, as pieces ending at awkward places. */
function ssePieces() {
  const seq4 = payload(4, ANCIENT());
  return [
    '\uFEFF: hel',
    'lo\n\nretry: 3000\r',
    '\nevent: rea',
    'dy\r\ndata: {"hello"',
    ':1}\r\n\r',
    `\nid: 1\r\ndata: ${payload(0, FUTURE())}\r\n\r\n`,
    // seq 1 over two data lines: an integer `t` ends the first (the joining LF is whitespace
    // to Number()), so a reader that cut the data there would lose its last digit
    `data: {"s":1,"t":${Math.round(clockMs() - 30_000)}\ndata: ,"p"`,
    ':"two lines"}\n',
    // CR at the end of a read and LF at the start of the next are one line end, not two
    '\nevent: notice\r',
    '\ndata: line one\rdata: line two\r',
    '\r',
    `da`,
    `ta: ${payload(2, OLD())}\n\n`,
    `data:${payload(2, OLD())}\r\n\r\nfoo: ignored\n: comment\ndata\n\nevent: ping\n\n`,
    `event: two words\ndata: x\n\nid: 9\ndata: ${seq4.slice(0, 9)}`,
    `${seq4.slice(9)}\n\n`,
  ];
}

/** Chunked framing of `pieces`, each chunk written in two parts split inside its framing. */
function chunkedPieces(pieces) {
  const out = [];
  pieces.forEach((piece, j) => {
    const size = Buffer.byteLength(piece).toString(16);
    const head = `${size}${j === 3 ? ';ext=1' : ''}\r\n`;
    const framed = `${head}${piece}\r\n`;
    const cut = [1, head.length - 1, framed.length - 1][j % 3];
    out.push(framed.slice(0, cut), framed.slice(cut));
  });
  return out;
}

/** What the server writes right after the head, so that the stream is ready. */
const firstPiece = (chunked) => {
  const first = ssePieces()[0];
  return chunked ? chunkedPieces([first]).join('') : first;
};

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes the rest of the events to every stream, piece by piece; returns all body bytes. */
async function streamEvents(streams) {
  const text = ssePieces();
  const plain = text.slice(1);
  const framed = chunkedPieces(text).slice(2);
  const written = streams.map((s) => firstPiece(s.chunked));
  for (let k = 0; k < Math.max(plain.length, framed.length); k++) {
    streams.forEach((s, i) => {
      const piece = s.chunked ? framed[k] : plain[k];
      if (piece === undefined) return;
      s.socket.write(piece);
      written[i] += piece;
    });
    await pause(3);
  }
  // The fresh event: 20.5 ms old when written, so its latency lands in a bucket >= 20.5 ms.
  streams.forEach((s, i) => {
    const event = `data: ${payload(5, (clockMs() - 20.5).toFixed(3))}\n\n`;
    const piece = s.chunked ? `${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n` : event;
    s.socket.write(piece);
    written[i] += piece;
  });
  return written.reduce((a, w) => a + Buffer.byteLength(w), 0);
}

/** The test server: one route per outcome (ROUTES); the streams it holds are in `streams`. */
async function sseServer() {
  /** @type {{ index: number, chunked: boolean, socket: import('node:net').Socket }[]} */
  const streams = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const index = Number(url.searchParams.get('i'));
    // Each subscriber sends its own request: the reader must not mix them up.
    if (req.headers['x-subscriber'] !== String(index)) return res.writeHead(400).end();
    if (url.pathname === '/denied') return res.writeHead(401).end();
    if (url.pathname === '/silent') return undefined; // never answers: a timeout
    if (url.pathname === '/hangup') return req.socket.destroy();
    const chunked = url.pathname === '/chunked';
    // Head from `http`, body bytes straight to the socket, so that the framing is ours.
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      ...(chunked ? { 'Transfer-Encoding': 'chunked' } : { Connection: 'close' }),
    });
    res.flushHeaders();
    const socket = /** @type {import('node:net').Socket} */ (res.socket);
    socket.setNoDelay(true);
    socket.write(firstPiece(chunked));
    streams.push({ index, chunked, socket });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  return { server, port, streams };
}

const ROUTES = ['plain', 'chunked', 'plain', 'chunked', 'denied', 'silent', 'hangup'];

/** Waits until `cond()` (async) holds, for up to `timeoutMs`. */
async function until(cond, timeoutMs, what) {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await pause(10);
  }
}

/**
 * Runs one reader against the server and checks everything it counts. `chunkedEndCloses`:
 * whether the end of a chunked body counts as an unexpected close (native: yes; JS: no).
 */
async function checkReader(name, makePool, chunkedEndCloses) {
  const { server, port, streams } = await sseServer();
  const pool = makePool(port);
  try {
    const r = await pool.connect(
      ROUTES.length,
      (i) => ({ path: `/${ROUTES[i]}?i=${i}`, headers: `X-Subscriber: ${i}\r\n` }),
      { track: true, concurrency: 3, timeoutMs: 1500 },
    );
    assert.deepEqual([r.ok, r.failed], [4, 3], `${name}: connected`);
    assert.deepEqual(
      pool.errors,
      { 'http-401': 1, timeout: 1, 'closed-early': 1 },
      `${name}: errors`,
    );
    await pool.resetHistogram();
    streams.sort((a, b) => a.index - b.index); // 0 and 2 plain, 1 and 3 chunked
    const bytes = await streamEvents(streams);
    await until(async () => (await pool.seqTotals(), pool.received >= 24), 5000, `${name} events`);
    const totals = await pool.seqTotals();
    assert.equal(pool.received, 24, `${name}: payloads received`);
    assert.deepEqual(totals, { uniq: 4 * 5, dups: 4 }, `${name}: first receipts, duplicates`);
    assert.equal(4 * 6 - totals.uniq, 4, `${name}: seq 3 lost on every stream`);
    assert.deepEqual(
      pool.control,
      { ready: 4, notice: 4, message: 4, 'two words': 4 },
      `${name}: control events`,
    );
    assert.equal(pool.bytes, bytes, `${name}: body bytes`);
    const h = await pool.resetHistogram();
    const sum = (a, from, to) => a.subarray(from, to).reduce((x, n) => x + n, 0);
    assert.equal(h.count, 24, `${name}: histogram count`);
    assert.equal(h.fine[0], 4, `${name}: future send times recorded as 0`);
    // At least 20.5 ms old (the readers and the payload read the same clock, see clockMs); how
    // much more depends on the machine (a loaded CI runner can take over 100 ms to read them,
    // into the 1 ms buckets), so no upper bound short of the 30 s old events.
    assert.equal(
      sum(h.fine, 20_500, 100_000) + sum(h.coarse, 100, 30_000),
      4,
      `${name}: fresh events at 20.5 ms or more`,
    );
    assert.equal(sum(h.coarse, 30_000, 119_999), 12, `${name}: 30 s old events in 1 ms buckets`);
    assert.equal(h.coarse[119_999], 4, `${name}: older than 120 s in the last bucket`);
    assert.equal(sum(h.fine, 0, h.fine.length) + sum(h.coarse, 0, h.coarse.length), 24);
    assert.ok(h.max >= 200_000 && h.sum > h.max, `${name}: max and sum`);
    assert.equal(h.quantile(0.1), 0.001, `${name}: quantile over the same buckets`);

    // The server ends one plain stream and one chunked stream (last chunk).
    streams[0].socket.destroy();
    streams[1].socket.end('0\r\n\r\n');
    const closes = chunkedEndCloses ? 2 : 1;
    await until(
      async () => (await pool.seqTotals(), pool.readyCount === 2),
      5000,
      `${name} closes`,
    );
    assert.equal(pool.unexpectedCloses, closes, `${name}: unexpected closes`);
  } finally {
    await pool.closeAll();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

await checkReader('js', (port) => new SubscriberPool(port), false);

const haveGcc = spawnSync('gcc', ['--version']).status === 0;
if (haveGcc || process.env.CI === 'true') {
  const binary = buildNativeReader();
  let pool = null;
  await checkReader('native', (port) => (pool = new NativeSubscriberPool(port, binary)), true);
  assert.equal(pool.child.exitCode, 0, 'native reader exits cleanly after closeAll');
} else {
  console.log('bench selftest: native reader skipped (no gcc)');
}

console.log('bench selftest: ok');
