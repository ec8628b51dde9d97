/**
 * The SSE wire encoder: pure functions from fields to the text of one event.
 *
 * The spec (WHATWG HTML, "server-sent events") ends a line at CRLF, LF or CR, and ends an
 * event at an empty line. So every line break inside `data` must become a new `data:` line,
 * or a payload such as "x\n\nevent: admin\nid: 999" would end the event early and forge
 * fields. `id`, `event` and `channel` are single-line fields: CR, LF or NUL in them is refused
 * (the spec also makes a browser ignore an id containing NUL), never silently stripped.
 */

const LINE_BREAK = /\r\n|\r|\n/;
const HAS_LINE_BREAK = /[\r\n]/;
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

export interface SseFields {
  /** Event type; omitted means the client's default "message". */
  event?: string;
  /**
   * Herald's channel of the event (a line after `event:`). Not an SSE field: the spec makes
   * every parser ignore a field it does not know, so EventSource clients are unaffected.
   */
  channel?: string;
  /** The payload; split on every CR, LF and CRLF into `data:` lines. */
  data?: string;
  /** Sets the client's last event id (sent back as Last-Event-ID on reconnect). */
  id?: string;
  /** Reconnection delay hint in milliseconds. */
  retry?: number;
}

/** True when `value` may be used as an SSE `id` or `event` value. */
export function isSafeFieldValue(value: string): boolean {
  return !FORBIDDEN_IN_FIELD.test(value);
}

function assertField(name: string, value: string): void {
  if (!isSafeFieldValue(value)) {
    throw new EncodeError(`SSE ${name} must not contain CR, LF or NUL`);
  }
}

/** Encodes the `data:` lines of an event (each ends with LF), without the closing blank line. */
export function encodeData(data: string): string {
  // Most payloads (JSON) are one line: no array of lines to make then.
  if (!HAS_LINE_BREAK.test(data)) return `data: ${data}\n`;
  let out = '';
  for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return out;
}

/** Encodes one `id:` line. */
export function encodeId(id: string): string {
  assertField('id', id);
  return `id: ${id}\n`;
}

/** Encodes one complete event, ending with the blank line that dispatches it. */
export function encodeEvent(fields: SseFields): string {
  let out = '';
  if (fields.event !== undefined) {
    assertField('event', fields.event);
    out += `event: ${fields.event}\n`;
  }
  if (fields.channel !== undefined) {
    assertField('channel', fields.channel);
    out += `channel: ${fields.channel}\n`;
  }
  if (fields.id !== undefined) out += encodeId(fields.id);
  if (fields.retry !== undefined) {
    if (!Number.isInteger(fields.retry) || fields.retry < 0) {
      throw new EncodeError('SSE retry must be a non-negative integer');
    }
    out += `retry: ${fields.retry}\n`;
  }
  if (fields.data !== undefined) out += encodeData(fields.data);
  return out + '\n';
}

/** Encodes a comment line (ignored by clients; used for the preamble and heartbeats). */
export function encodeComment(text: string): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `: ${line}\n`;
  return out + '\n';
}
