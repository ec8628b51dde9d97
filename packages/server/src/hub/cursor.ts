import { createHash } from 'node:crypto';

/**
 * The resume cursor carried in the SSE `id` of every durable event.
 *
 * Why not one global sequence: a database sequence is assigned at insert but transactions
 * commit in any order, so "everything after id N" can skip an event that committed late.
 * Herald gives every channel its own sequence, assigned under the channel row's lock so that
 * per-channel sequence order is commit order, and the cursor is the vector of per-channel
 * positions of the stream's channels:
 *
 *     <tag>.<seq1>.<seq2>...     e.g.  "Zk3q_a1B.1f.0.a2"
 *
 * `tag` is a 48-bit hash of the sorted channel set and each channel's epoch (a random value
 * made when a channel's history begins), so a cursor from another channel set, or from a
 * history that was reset since, is recognised and answered with a `reset` event instead of
 * being applied to the wrong sequences. Sequences are base 36, in sorted channel order.
 *
 * A client that changes its channel set cannot resume with the composite cursor (its tag is
 * of the old set), so a cursor may also be given per channel:
 *
 *     <channel>=<tag1>.<seq>,<channel>=<tag1>.<seq>...     e.g.  "alerts=Zk3q_a1B.5,user:a=Q1w2e3r4.0"
 *
 * where `tag1` is the tag of that channel alone (`channelTag`). `=` and `,` never occur in
 * channel names, so the two forms cannot be confused.
 */

export interface Cursor {
  readonly tag: string;
  readonly seqs: readonly number[];
}

const TAG = /^[A-Za-z0-9_-]{8}$/;
const SEQ = /^[0-9a-z]{1,11}$/;

/** Canonical order of a stream's channels: sorted, duplicates removed. */
export function canonicalChannels(channels: Iterable<string>): string[] {
  return [...new Set(channels)].sort();
}

/** `channels` must be canonical; `epochs[i]` is the epoch of `channels[i]`. */
export function channelSetTag(channels: readonly string[], epochs: readonly string[]): string {
  const h = createHash('sha256');
  for (let i = 0; i < channels.length; i++) {
    h.update(channels[i] ?? '');
    h.update('\0');
    h.update(epochs[i] ?? '');
    h.update('\n');
  }
  return h.digest('base64url').slice(0, 8);
}

/** The tag of one channel alone: the `tag1` of its per-channel cursor. */
export function channelTag(channel: string, epoch: string): string {
  return channelSetTag([channel], [epoch]);
}

/** True when `raw` is in the per-channel form (`<channel>=<tag1>.<seq>,...`). */
export function isPerChannelCursor(raw: string): boolean {
  return raw.includes('=');
}

/**
 * Parses the per-channel form into each channel's cursor (one position each); null for
 * anything malformed: an entry without `=` or without a name, a value that is not
 * `<tag1>.<seq>`, a channel named twice, or more than `maxLength` characters in all.
 * Never throws. The names are not checked here: one not in the stream is simply not asked for.
 */
export function parsePerChannelCursor(raw: string, maxLength: number): Map<string, Cursor> | null {
  if (raw.length === 0 || raw.length > maxLength) return null;
  const out = new Map<string, Cursor>();
  for (const entry of raw.split(',')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) return null;
    const name = entry.slice(0, eq);
    const cursor = parseCursor(entry.slice(eq + 1), 1, maxLength);
    if (!cursor || out.has(name)) return null;
    out.set(name, cursor);
  }
  return out;
}

export function formatCursor(tag: string, seqs: readonly number[]): string {
  let out = tag;
  for (const s of seqs) out += '.' + s.toString(36);
  return out;
}

/** Each channel's own cursor (`<tag1>.<seq>`) at `positions`, by channel name. */
export function channelCursors(
  channels: readonly string[],
  tags: readonly string[],
  positions: readonly number[],
): Record<string, string> {
  const out: Record<string, string> = {};
  channels.forEach((channel, i) => {
    out[channel] = formatCursor(tags[i] ?? '', [positions[i] ?? 0]);
  });
  return out;
}

/**
 * Parses a cursor; returns null for anything malformed (wrong shape, too long, bad digits,
 * a count of positions that does not match the channel count). Never throws.
 */
export function parseCursor(raw: string, channelCount: number, maxLength: number): Cursor | null {
  if (raw.length === 0 || raw.length > maxLength) return null;
  const parts = raw.split('.');
  const tag = parts[0] ?? '';
  if (!TAG.test(tag) || parts.length !== channelCount + 1) return null;
  const seqs: number[] = [];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (!SEQ.test(part)) return null;
    const n = parseInt(part, 36);
    if (!Number.isSafeInteger(n)) return null;
    seqs.push(n);
  }
  return { tag, seqs };
}
