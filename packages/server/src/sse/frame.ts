import { encodeComment, encodeEvent } from './encode.js';

/**
 * An event serialized once for every subscriber. `body` holds the `event:` and `data:` lines
 * and the closing blank line; durable events are preceded on each connection by an `id:`
 * line carrying that connection's cursor. Connections with the same single channel share the
 * same cursor text, so their complete frame is built once too (`withId`).
 */
export class Frame {
  readonly body: Buffer;
  private cachedIdText: string | undefined;
  private cachedWithId: Buffer | undefined;

  constructor(type: string, data: string) {
    this.body = Buffer.from(encodeEvent({ event: type, data }), 'utf8');
  }

  /** The whole frame with `id: <cursor>` in front; the last result is reused. */
  withId(cursor: string): Buffer {
    if (this.cachedIdText === cursor && this.cachedWithId) return this.cachedWithId;
    const idLine = Buffer.from(`id: ${cursor}\n`, 'latin1');
    const out = Buffer.concat([idLine, this.body], idLine.length + this.body.length);
    this.cachedIdText = cursor;
    this.cachedWithId = out;
    return out;
  }
}

/** The heartbeat: one comment, the same bytes for every connection. */
export const HEARTBEAT = Buffer.from(encodeComment('hb'));
