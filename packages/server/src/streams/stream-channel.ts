import { randomBytes } from 'node:crypto';

/**
 * The stream channel kind: every channel named `ai:{session}` carries AI answers, streamed
 * token by token (docs/streams.md). Its `ai_start` and `ai_response` events are ephemeral
 * but buffered (StreamBuffer) and resumable; its `ai_complete` is durable.
 */
export const STREAM_CHANNEL_PREFIX = 'ai:';
export const AI_START = 'ai_start';
export const AI_RESPONSE = 'ai_response';
export const AI_COMPLETE = 'ai_complete';

export type EndReason = 'done' | 'cancelled' | 'error';

export function isStreamChannel(channel: string): boolean {
  return channel.startsWith(STREAM_CHANNEL_PREFIX);
}

/** A new stream id: 16 base64url characters (never `.`, `~`, `=` or `,`, see the cursor). */
export function newStreamId(): string {
  return randomBytes(12).toString('base64url');
}

/** Where a stream event sits in its stream: `i` is the token index, -1 for `ai_start`. */
export interface TokenMark {
  readonly stream: string;
  readonly i: number;
}

/** Wire data of one `ai_response`; the live and the replayed copy are the same bytes. */
export function tokenData(stream: string, i: number, token: string): string {
  return JSON.stringify({ stream, i, token });
}

/** Wire data of `ai_start`, with the producer's optional `meta`. */
export function startData(stream: string, meta: unknown): string {
  return JSON.stringify(meta === undefined ? { stream } : { stream, meta });
}

/** Wire data of the durable `ai_complete`. */
export function completeData(stream: string, text: string, n: number, reason: EndReason): string {
  return JSON.stringify({ stream, text, n, reason });
}

/** The mark of an `ai_start`/`ai_response` (or the stream of an `ai_complete`); else undefined. */
export function markOf(type: string, data: string): TokenMark | undefined {
  if (type !== AI_START && type !== AI_RESPONSE && type !== AI_COMPLETE) return undefined;
  try {
    const d = JSON.parse(data) as { stream?: unknown; i?: unknown };
    if (typeof d.stream !== 'string') return undefined;
    if (type !== AI_RESPONSE) return { stream: d.stream, i: -1 };
    return typeof d.i === 'number' ? { stream: d.stream, i: d.i } : undefined;
  } catch {
    return undefined;
  }
}

/** A stream position: the stream, and how many of its tokens were given. */
export interface StreamPosition {
  readonly stream: string;
  readonly n: number;
}

/**
 * The stream part of a resume cursor. An SSE id on a connection with streams in progress is
 *
 *     <channel>=<stream>.<n36>~<channel>=<stream>.<n36>~<durable cursor>
 *
 * one entry per stream channel with a stream under way, then the durable cursor (either form,
 * see hub/cursor.ts; empty for none). The stream entries come first so that a client that
 * only knows durable cursors sees a tag it does not know and leaves the id alone. `~` never
 * occurs in a channel, a stream id or a durable cursor.
 */
export function splitStreamCursor(raw: string | undefined): {
  durable: string | undefined;
  streams: Map<string, StreamPosition>;
} {
  const streams = new Map<string, StreamPosition>();
  if (raw === undefined || !raw.includes('~')) return { durable: raw, streams };
  const parts = raw.split('~');
  const durable = parts.pop() ?? '';
  for (const entry of parts) {
    const m = ENTRY.exec(entry);
    if (!m) continue; // a malformed entry only loses that stream's position
    const n = parseInt(m[3] ?? '', 36);
    if (Number.isSafeInteger(n)) streams.set(m[1] ?? '', { stream: m[2] ?? '', n });
  }
  return { durable, streams };
}

const ENTRY = /^(ai:[A-Za-z0-9_.@:-]{1,125})=([A-Za-z0-9_-]{1,64})\.([0-9a-z]{1,11})$/;

/** The stream entries of a cursor (without the trailing `~<durable>`). */
export function formatStreamEntries(entries: Iterable<[string, StreamPosition]>): string {
  let out = '';
  for (const [channel, p] of entries) out += `${channel}=${p.stream}.${p.n.toString(36)}~`;
  return out;
}
