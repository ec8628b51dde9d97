import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalChannels,
  channelCursors,
  channelSetTag,
  channelTag,
  formatCursor,
  isPerChannelCursor,
  parseCursor,
  parsePerChannelCursor,
} from '../src/hub/cursor.js';
import { isValidChannel, isValidUserId } from '../src/hub/channel-name.js';
import { grantMatches } from '../src/auth/grants.js';

describe('cursor', () => {
  const tag = channelSetTag(['a', 'b'], ['e1', 'e2']);

  it('round-trips positions', () => {
    const c = formatCursor(tag, [0, 35, 1_000_000]);
    expect(c).toBe(`${tag}.0.z.lfls`);
    expect(parseCursor(c, 3, 4096)).toEqual({ tag, seqs: [0, 35, 1_000_000] });
  });

  it('changes tag with the channel set or an epoch', () => {
    expect(channelSetTag(['a', 'b'], ['e1', 'e3'])).not.toBe(tag);
    expect(channelSetTag(['a', 'c'], ['e1', 'e2'])).not.toBe(tag);
    expect(channelSetTag(['a', 'b'], ['e1', 'e2'])).toBe(tag);
    expect(canonicalChannels(['b', 'a', 'b'])).toEqual(['a', 'b']);
  });

  it.each([
    '',
    '1:',
    '-1',
    'x'.repeat(10_000),
    'abc\0def.1',
    `${'a'.repeat(8)}.-1`,
    `${'a'.repeat(8)}.1.2`,
    `${'a'.repeat(8)}.ZZ`,
    `${'a'.repeat(8)}.zzzzzzzzzzzz`,
    `${'a'.repeat(8)}`,
    '../../etc/passwd',
  ])('rejects malformed cursor %j without throwing', (raw) => {
    expect(parseCursor(raw, 1, 4096)).toBeNull();
  });

  it('never throws on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.integer({ min: 0, max: 5 }), (raw, n) => {
        const r = parseCursor(raw, n, 64);
        if (r) {
          expect(r.seqs).toHaveLength(n);
          for (const s of r.seqs) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('per-channel cursor', () => {
  const ta = channelTag('alerts', 'e1');
  const tu = channelTag('user:alice', 'e2');

  it("is each channel's own tag and position, and parses back", () => {
    expect(ta).toBe(channelSetTag(['alerts'], ['e1']));
    const own = channelCursors(['alerts', 'user:alice'], [ta, tu], [5, 36]);
    expect(own).toEqual({ alerts: `${ta}.5`, 'user:alice': `${tu}.10` });
    const raw = Object.entries(own)
      .map(([c, v]) => `${c}=${v}`)
      .join(',');
    expect(isPerChannelCursor(raw)).toBe(true);
    expect(isPerChannelCursor(formatCursor(ta, [1, 2]))).toBe(false);
    expect(parsePerChannelCursor(raw, 4096)).toEqual(
      new Map([
        ['alerts', { tag: ta, seqs: [5] }],
        ['user:alice', { tag: tu, seqs: [36] }],
      ]),
    );
  });

  it.each([
    '',
    '=',
    ',',
    'alerts=',
    `=${'a'.repeat(8)}.1`,
    `alerts=${'a'.repeat(8)}.1,`,
    `alerts=${'a'.repeat(8)}.1.2`,
    `alerts=${'a'.repeat(8)}`,
    `alerts=${'a'.repeat(8)}.1,alerts=${'a'.repeat(8)}.2`,
    `alerts=${'a'.repeat(8)}.1,user:alice`,
    `alerts=${'a'.repeat(8)}.-1`,
    `alerts=${'a'.repeat(8)}.1=2`,
  ])('rejects malformed per-channel cursor %j without throwing', (raw) => {
    expect(parsePerChannelCursor(raw, 4096)).toBeNull();
  });

  it('applies the length limit to the whole value', () => {
    const raw = `alerts=${ta}.1`;
    expect(parsePerChannelCursor(raw, raw.length)).not.toBeNull();
    expect(parsePerChannelCursor(raw, raw.length - 1)).toBeNull();
  });

  it('never throws on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (raw) => {
        const r = parsePerChannelCursor(raw, 64);
        if (r) for (const c of r.values()) expect(c.seqs).toHaveLength(1);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('channel names and grants', () => {
  it.each(['user:alice', 'alerts', 'chat:lobby', 'ai:sess-1.2', 'jobs:a@b_c'])('accepts %s', (c) =>
    expect(isValidChannel(c)).toBe(true),
  );
  it.each([
    '',
    'user:',
    ':x',
    'a::b',
    'user:../bob',
    'user:bob/',
    'a b',
    'user:*',
    'x'.repeat(129),
    'ü',
    'user:.bob',
  ])('refuses %j', (c) => expect(isValidChannel(c)).toBe(false));
  it('validates user ids as one segment', () => {
    expect(isValidUserId('bob')).toBe(true);
    expect(isValidUserId('..')).toBe(false);
    expect(isValidUserId('a:b')).toBe(false);
  });
  it('matches grants exactly or by prefix pattern, never bare *', () => {
    expect(grantMatches('chat:*', 'chat:lobby')).toBe(true);
    expect(grantMatches('chat:*', 'chat')).toBe(false);
    expect(grantMatches('chat:*', 'chatroom:x')).toBe(false);
    expect(grantMatches('*', 'anything')).toBe(false);
    expect(grantMatches(':*', 'x')).toBe(false);
    expect(grantMatches('alerts', 'alerts')).toBe(true);
    expect(grantMatches('alerts', 'alerts2')).toBe(false);
  });
});

describe('cursor corpus (kept hostile inputs)', () => {
  const corpus = JSON.parse(
    readFileSync(resolve(import.meta.dirname, 'corpus/cursors.json'), 'utf8'),
  ) as { cursors: string[] };
  it.each(corpus.cursors.map((c) => [c.slice(0, 40), c]))('parses %j safely', (_label, raw) => {
    for (const n of [0, 1, 2, 9]) {
      const r = parseCursor(raw, n, 4096);
      if (r) for (const s of r.seqs) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
    }
    for (const c of parsePerChannelCursor(raw, 4096)?.values() ?? []) {
      expect(Number.isSafeInteger(c.seqs[0]) && c.seqs[0]! >= 0).toBe(true);
    }
  });
});
