import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeraldClientError } from '../src/errors.js';
import { SseParser, type SseEvent } from '../src/sse-parser.js';

function parse(chunks: string[], max?: number) {
  const events: SseEvent[] = [];
  const ids: string[] = [];
  const retries: number[] = [];
  const p = new SseParser({
    onEvent: (e) => events.push(e),
    onId: (id) => ids.push(id),
    onRetry: (ms) => retries.push(ms),
    ...(max !== undefined ? { maxEventSize: max } : {}),
  });
  for (const c of chunks) p.feed(c);
  p.end();
  return { events, ids, retries };
}

describe('SSE parser', () => {
  it('ends lines at LF, CR and CRLF alike', () => {
    for (const nl of ['\n', '\r', '\r\n']) {
      const text = ['event: a', 'id: X.1', 'data: one', 'data: two', '', ''].join(nl);
      expect(parse([text]).events).toEqual([{ event: 'a', id: 'X.1', data: 'one\ntwo' }]);
    }
  });

  it('skips one leading BOM, not a second one', () => {
    expect(parse(['\uFEFFdata: x\n\n']).events).toEqual([{ event: 'message', data: 'x' }]);
    expect(parse(['\uFEFF', '\uFEFFdata: x\n\n']).events).toEqual([]);
  });

  it('reads the channel field and ignores unknown fields and comments', () => {
    const r = parse([': hb\nevent: n\nchannel: user:alice\nfoo: bar\ndata: {"a":1}\n\n']);
    expect(r.events).toEqual([{ event: 'n', channel: 'user:alice', data: '{"a":1}' }]);
  });

  it('takes one space after the colon, keeps the rest; a bare field has an empty value', () => {
    const r = parse(['data:  two spaces\ndata\ndata:nospace\n\n']);
    expect(r.events[0]!.data).toEqual(' two spaces\n\nnospace');
  });

  it('dispatches nothing for an id-only block but reports the id', () => {
    const r = parse(['id: Zk.5\n\n', 'event: x\n\n']);
    expect(r.events).toEqual([]);
    expect(r.ids).toEqual(['Zk.5']);
  });

  it('ignores an id with NUL and a retry that is not all digits', () => {
    const r = parse(['id: a\0b\nretry: 12x\nretry: 3000\ndata: d\n\n']);
    expect(r.events).toEqual([{ event: 'message', data: 'd' }]);
    expect(r.retries).toEqual([3000]);
  });

  it('drops an unfinished event at the end of the stream', () => {
    expect(parse(['data: complete\n\ndata: half']).events).toHaveLength(1);
  });

  it('refuses a line or an event over the bound, holding no more than it', () => {
    const p = new SseParser({ onEvent: () => undefined, maxEventSize: 100 });
    expect(() => p.feed('data: ' + 'x'.repeat(200))).toThrow(HeraldClientError);
    const q = new SseParser({ onEvent: () => undefined, maxEventSize: 100 });
    let err: unknown;
    try {
      for (let i = 0; i < 20; i++) q.feed('data: 0123456789\n');
    } catch (e) {
      err = e;
    }
    expect((err as HeraldClientError).code).toBe('too-large');
  });

  it('gives the same events however the bytes are split (CR/LF split across chunks too)', () => {
    const line = fc.oneof(
      fc.constantFrom(
        '',
        ': c',
        'event: t',
        'id: A.1',
        'channel: c:1',
        'retry: 5',
        'data',
        'data:',
      ),
      fc.string({ maxLength: 8 }).map((s) => 'data: ' + s.replace(/[\r\n]/g, '')),
    );
    const nl = fc.constantFrom('\n', '\r', '\r\n');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(line, nl), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (lines, cuts) => {
          const text = lines.map(([l, n]) => l + n).join('');
          const whole = parse([text]);
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const chunks: string[] = [];
          let at = 0;
          for (const p of points) {
            chunks.push(text.slice(at, p));
            at = p;
          }
          chunks.push(text.slice(at));
          expect(parse(chunks)).toEqual(whole);
        },
      ),
      { numRuns: 500 },
    );
  });
});
