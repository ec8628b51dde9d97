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

export function formatCursor(tag: string, seqs: readonly number[]): string {
  let out = tag;
  for (const s of seqs) out += '.' + s.toString(36);
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
