// Checks the bench's wire parsers against hand-written cases, split at every byte boundary.
// Run: node bench/selftest.js
import assert from 'node:assert/strict';
import { ChunkedDecoder, SseParser } from './lib/sse-parser.js';
import { SeqWindow } from './lib/stats.js';

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

console.log('bench selftest: ok');
