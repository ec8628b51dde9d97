import { formatCursor } from '../hub/cursor.js';
import type { TokenMark } from '../streams/stream-channel.js';
import { encodeComment, encodeEvent } from './encode.js';

/**
 * An event serialized once for every subscriber. `body` holds the `event:`, `channel:` and
 * `data:` lines and the closing blank line; durable events are preceded on each connection by an `id:`
 * line carrying that connection's cursor. Connections with the same single channel share the
 * same cursor, so their complete frame, cursor text included, is built once too
 * (`withCursor`): fan-out to thousands of such connections formats nothing per connection.
 */
export class Frame {
  readonly body: Buffer;
  /** Set on the `ai_start` and `ai_response` frames of stream channels (docs/streams.md). */
  mark: TokenMark | undefined;
  private cachedIdText: string | undefined;
  private cachedWithId: Buffer | undefined;
  /** The cursor (tag and positions) of `cachedWithId` when `withCursor` built it. */
  private cachedTag: string | undefined;
  private cachedSeqs: number[] = [];

  /** `channel` is omitted only by streams of their own format (the alert stream). */
  constructor(type: string, data: string, channel?: string) {
    this.body = Buffer.from(
      encodeEvent(channel === undefined ? { event: type, data } : { event: type, channel, data }),
      'utf8',
    );
  }

  /** The whole frame with `id: <cursor>` in front; the last result is reused. */
  withId(cursor: string): Buffer {
    if (this.cachedIdText === cursor && this.cachedWithId) return this.cachedWithId;
    // "id: " + cursor + LF, then the body, written into one buffer (cursors are ASCII).
    const head = cursor.length + 5;
    const out = Buffer.allocUnsafe(head + this.body.length);
    out.write('id: ', 0, 'latin1');
    out.write(cursor, 4, 'latin1');
    out[head - 1] = 0x0a;
    this.body.copy(out, head);
    this.cachedIdText = cursor;
    this.cachedWithId = out;
    this.cachedTag = undefined;
    return out;
  }

  /** The whole frame with the cursor of `tag` and `seqs`; reused while they are the same. */
  withCursor(tag: string, seqs: readonly number[]): Buffer {
    const cached = this.cachedWithId;
    if (cached && tag === this.cachedTag && sameSeqs(seqs, this.cachedSeqs)) return cached;
    const out = this.withId(formatCursor(tag, seqs));
    this.cachedTag = tag;
    this.cachedSeqs = seqs.slice();
    return out;
  }
}

function sameSeqs(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The heartbeat: one comment, the same bytes for every connection. */
export const HEARTBEAT = Buffer.from(encodeComment('hb'));
