import { HeraldClientError } from './errors.js';

/** One dispatched SSE event, as the WHATWG event-stream interpretation defines it. */
export interface SseEvent {
  /** The `id:` field of this block, if it had one (Herald: durable events only). */
  id?: string;
  /** The `event:` field, or `message`. */
  event: string;
  /** Herald's `channel:` field (unknown to plain EventSource, which ignores it). */
  channel?: string;
  /** The data lines joined with LF. */
  data: string;
}

export interface SseParserOptions {
  onEvent(e: SseEvent): void;
  /** A block whose `id:` set the last event id without dispatching an event. */
  onId?(id: string): void;
  /** A valid `retry:` field. */
  onRetry?(ms: number): void;
  /** Longest line or event, in UTF-16 code units (default 1 MiB). Past it: `too-large`. */
  maxEventSize?: number;
}

const LINE_END = /\r\n|\r|\n/g;

/**
 * An incremental, standards-correct parser of `text/event-stream`
 * (html.spec.whatwg.org, "Interpreting an event stream"): one leading BOM is skipped, lines
 * end at CRLF, LF or CR (a CR at the end of a chunk whose LF comes in the next is one line
 * end), `field: value` loses one leading space, comments are dropped, `data:` lines join with
 * LF, an `id:` holding NUL is ignored, `retry:` must be all digits, and a block without data
 * dispatches nothing (its `id:` still counts). What a hostile server can make it hold is
 * bounded by `maxEventSize`, for the unfinished line and for the event being built alike.
 */
export class SseParser {
  private pending = '';
  private skipLf = false;
  private started = false;
  private data = '';
  private hasData = false;
  private event = '';
  private channel: string | undefined;
  private id: string | undefined;
  private size = 0;
  private readonly max: number;

  constructor(private readonly opts: SseParserOptions) {
    this.max = opts.maxEventSize ?? 1 << 20;
  }

  /** Feeds decoded text; throws `too-large` when a line or an event passes the bound. */
  feed(chunk: string): void {
    if (chunk === '') return;
    if (this.skipLf) {
      this.skipLf = false;
      if (chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
    }
    if (!this.started) {
      this.started = true;
      if (this.pending === '' && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    const full = this.pending + chunk;
    let start = 0;
    LINE_END.lastIndex = 0;
    for (let m = LINE_END.exec(full); m !== null; m = LINE_END.exec(full)) {
      this.line(full.slice(start, m.index));
      start = m.index + m[0].length;
    }
    // A CR that ends the chunk ended a line; an LF that starts the next belongs to it.
    this.skipLf = full.charCodeAt(full.length - 1) === 13;
    const text = full.slice(start);
    if (text.length > this.max) this.tooLarge('line');
    this.pending = text;
  }

  /** The stream ended: an unfinished event is discarded, as the standard says. */
  end(): void {
    this.pending = '';
    this.skipLf = false;
    this.reset();
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 58) return; // ':' comment (heartbeats)
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    this.size += line.length;
    if (this.size > this.max) this.tooLarge('event');
    switch (field) {
      case 'data':
        this.data = this.hasData ? this.data + '\n' + value : value;
        this.hasData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'channel':
        this.channel = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.opts.onRetry?.(Number(value));
        break;
      default:
      // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const { id, hasData } = this;
    if (hasData) {
      const e: SseEvent = { event: this.event || 'message', data: this.data };
      if (id !== undefined) e.id = id;
      if (this.channel !== undefined) e.channel = this.channel;
      this.reset();
      this.opts.onEvent(e);
    } else {
      this.reset();
      if (id !== undefined) this.opts.onId?.(id);
    }
  }

  private reset(): void {
    this.data = '';
    this.hasData = false;
    this.event = '';
    this.channel = undefined;
    this.id = undefined;
    this.size = 0;
  }

  private tooLarge(what: string): never {
    this.pending = '';
    this.reset();
    throw new HeraldClientError('too-large', `SSE ${what} longer than ${this.max} characters`);
  }
}
