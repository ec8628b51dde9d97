import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError, encodeComment, encodeEvent } from '../src/sse/encode.js';
import { Frame } from '../src/sse/frame.js';
import { RawSse } from './sse-client.js';

/** Parses encoder output with the test client's spec parser. */
function parse(text: string) {
  const c = new RawSse();
  c.feed(text);
  return c;
}

describe('SSE encoder', () => {
  it('splits data on LF, CR and CRLF into data: lines', () => {
    expect(encodeEvent({ data: 'a\nb\rc\r\nd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps an injection payload inside one event as literal text', () => {
    const payload = 'x\n\nevent: admin\nid: 999\ndata: pwn';
    const c = parse(encodeEvent({ event: 'message', data: payload }));
    expect(c.events).toHaveLength(1);
    expect(c.events[0]).toEqual({ event: 'message', data: payload, id: undefined });
  });

  it.each(['a\nb', 'a\rb', 'a\0b', '\r\n'])(
    'refuses CR, LF or NUL in id, event and channel (%j)',
    (bad) => {
      expect(() => encodeEvent({ id: bad, data: 'x' })).toThrow(EncodeError);
      expect(() => encodeEvent({ event: bad, data: 'x' })).toThrow(EncodeError);
      expect(() => encodeEvent({ channel: bad, data: 'x' })).toThrow(EncodeError);
    },
  );

  it('puts the channel line after event: and before data:, and a parser keeps it', () => {
    const text = encodeEvent({ event: 't', channel: 'user:alice', data: 'a\nb', id: 'i.1' });
    expect(text).toBe('event: t\nchannel: user:alice\nid: i.1\ndata: a\ndata: b\n\n');
    expect(parse(text).events[0]).toEqual({
      event: 't',
      channel: 'user:alice',
      data: 'a\nb',
      id: 'i.1',
    });
  });

  it('encodes retry, empty data and comments', () => {
    expect(encodeEvent({ retry: 1500 })).toBe('retry: 1500\n\n');
    expect(encodeEvent({ data: '' })).toBe('data: \n\n');
    expect(encodeComment('a\nb')).toBe(': a\n: b\n\n');
    expect(() => encodeEvent({ retry: -1 })).toThrow(EncodeError);
  });

  it('serializes a frame once and reuses the bytes for the same cursor', () => {
    const f = new Frame('t', '{"a":1}', 'alerts');
    expect(f.body.toString()).toBe('event: t\nchannel: alerts\ndata: {"a":1}\n\n');
    const a = f.withId('abcdefgh.1');
    expect(f.withId('abcdefgh.1')).toBe(a);
    expect(a.toString()).toBe('id: abcdefgh.1\nevent: t\nchannel: alerts\ndata: {"a":1}\n\n');
    // A stream of its own format (the alert stream) builds frames without the channel line.
    expect(new Frame('t', 'x').body.toString()).toBe('event: t\ndata: x\n\n');
  });

  it('reuses the bytes for the same tag and positions, and never a stale cursor', () => {
    const f = new Frame('t', 'x');
    const a = f.withCursor('abcdefgh', [35]);
    expect(f.withCursor('abcdefgh', [35])).toBe(a);
    expect(a.toString()).toBe('id: abcdefgh.z\nevent: t\ndata: x\n\n');
    expect(f.withCursor('abcdefgh', [35, 1]).toString()).toBe(
      'id: abcdefgh.z.1\nevent: t\ndata: x\n\n',
    );
    expect(f.withCursor('zzzzzzzz', [35]).toString()).toBe('id: zzzzzzzz.z\nevent: t\ndata: x\n\n');
    f.withId('other.1');
    expect(f.withCursor('zzzzzzzz', [35]).toString()).toBe('id: zzzzzzzz.z\nevent: t\ndata: x\n\n');
  });

  it('round-trips any data and any safe type through a spec parser (property)', () => {
    const safe = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\r\n\0]/.test(s));
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), safe, safe, (data, event, id) => {
        const c = parse(encodeEvent({ event, data, id }) + encodeEvent({ data: 'next' }));
        // Line breaks of any kind come back as LF; nothing else changes, nothing leaks out.
        expect(c.events).toHaveLength(2);
        expect(c.events[0]!.data).toBe(data.replace(/\r\n|\r/g, '\n'));
        expect(c.events[0]!.event).toBe(event);
        expect(c.events[0]!.id).toBe(id);
        expect(c.events[1]!.data).toBe('next');
      }),
      { numRuns: 2000 },
    );
  });

  it('never emits a blank line inside an event (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (data) => {
        const out = encodeEvent({ data });
        expect(out.slice(0, -2)).not.toMatch(/\n\n/);
        expect(out.endsWith('\n\n')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encoder corpus (kept hostile inputs)', () => {
  const corpus = JSON.parse(
    readFileSync(resolve(import.meta.dirname, 'corpus/sse.json'), 'utf8'),
  ) as {
    unsafeFields: string[];
    safeFields: string[];
    data: string[];
  };
  it('refuses every unsafe id/event and round-trips every payload as one event', () => {
    for (const f of corpus.unsafeFields) {
      expect(() => encodeEvent({ event: f, data: 'x' })).toThrow(EncodeError);
      expect(() => encodeEvent({ id: f, data: 'x' })).toThrow(EncodeError);
      expect(() => encodeEvent({ channel: f, data: 'x' })).toThrow(EncodeError);
    }
    for (const f of corpus.safeFields) {
      const c = parse(encodeEvent({ event: `t${f}`, channel: `c${f}`, id: `i${f}`, data: 'x' }));
      expect(c.events).toHaveLength(1);
    }
    for (const d of corpus.data) {
      const c = parse(
        encodeEvent({ event: 'm', channel: 'a:b', data: d }) + encodeEvent({ data: 'end' }),
      );
      expect(c.events).toHaveLength(2);
      expect(c.events[0]!.data).toBe(d.replace(/\r\n|\r/g, '\n'));
      expect(c.events[0]!.channel).toBe('a:b');
    }
  });
});
