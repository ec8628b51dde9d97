import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { BrokerEvent } from '../broker/broker.js';
import { formatCursor } from '../hub/cursor.js';
import {
  AI_COMPLETE,
  formatStreamEntries,
  markOf,
  type StreamPosition,
  type TokenMark,
} from '../streams/stream-channel.js';
import { encodeComment, encodeEvent } from './encode.js';
import { type Frame, HEARTBEAT } from './frame.js';

/**
 * Write coalescing. At the fan-out knee most server time is the kernel sending one TCP
 * segment per subscriber per event (measured: 63.7 % of the profile under Node's per-write
 * cork/uncork). Live events therefore reach a session in one write per channel per visit of
 * the hub's walk (`deliverAll`: every event the subscriber has not been given), written as
 * the hub walks the subscribers, so the first subscriber's bytes leave at once rather than
 * after the whole walk. Every other write (replay, control events, held events going
 * live) corks the socket at the first write of a turn and lists the session; one
 * setImmediate per turn uncorks every listed socket, so those frames leave in one writev
 * too. A lone event waits only for the end of the current turn: no timer, no added latency
 * at light load.
 */
const corked: Session[] = [];
/** The head of every stream, after the hooks' headers (which it overrides). */
const STREAM_HEADERS: OutgoingHttpHeaders = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'close',
});
let flushScheduled = false;
function uncorkAll(): void {
  flushScheduled = false;
  for (const s of corked.splice(0)) s.uncork();
}

/**
 * The session of a response, for the two listeners every session puts on it: shared
 * functions that find their session here, instead of two closures per connection.
 */
const SESSION = Symbol('herald.session');
type SessionResponse = ServerResponse & { [SESSION]?: Session };
function onResponseClose(this: SessionResponse): void {
  this[SESSION]?.ended('client-closed');
}
function onResponseError(this: SessionResponse): void {
  this[SESSION]?.ended('error');
}

export type CloseReason =
  | 'client-closed'
  | 'slow-consumer'
  | 'token-expired'
  | 'shutdown'
  | 'replay-continues'
  | 'evicted'
  | 'poll-answered'
  | 'error';

export interface SessionOptions {
  /** Canonical (sorted, unique) channel list. */
  readonly channels: readonly string[];
  /** Unsent bytes allowed before the connection is cut as a slow consumer. */
  readonly sendBufferBytes: number;
  /** Token expiry, ms since the epoch (undefined: none). */
  readonly expiresAt: number | undefined;
  readonly userId: string | undefined;
  readonly onClose: (session: Session, reason: CloseReason) => void;
  /** Headers the request's hooks set (CORS, Vary), sent with the stream's own in its head. */
  readonly headers?: OutgoingHttpHeaders | undefined;
}

/** A live event on its way to the subscribers of one channel. */
export interface Outgoing {
  readonly event: BrokerEvent;
  readonly frame: Frame;
}

interface Pending extends Outgoing {
  readonly index: number;
}

/**
 * One SSE connection. It owns the response, the per-channel positions that make up its
 * cursor, and its byte budget. While the hub replays history the session is `replaying`:
 * live events are held in `pending` (bounded by the same budget) and flushed afterwards,
 * skipping any the replay already sent, so the switch from history to live has no gap and
 * no duplicate.
 */
export class Session {
  readonly id = randomUUID();
  /** When the session was made, ms since the epoch (the `durationMs` of its end). */
  readonly openedAt = Date.now();
  readonly channels: readonly string[];
  readonly userId: string | undefined;
  readonly expiresAt: number | undefined;
  /** Position (last sequence sent) per channel, in `channels` order. */
  readonly positions: number[];
  tag = '';
  /**
   * Streams under way on this session's stream channels, by channel index: what it was given
   * of each (docs/streams.md). Undefined while there are none, so the durable path pays one
   * check.
   */
  private streams: Map<number, StreamPosition> | undefined;
  private replaying = true;
  /** Live events held while replaying; made by the first one. */
  private pending: Pending[] | undefined;
  private pendingBytes = 0;
  private closed = false;
  private corked = false;
  private opened = false;
  /**
   * Where writes go: the response for the first one, which carries the head, then the socket
   * itself. The stream is the whole response, unchunked, so the bytes are the same; but each
   * response write costs a cork, a buffered chunk and a nextTick to uncork it (Node's
   * OutgoingMessage), about a twentieth of the server's time at 8,000 targeted events/s.
   */
  private out: { write(chunk: Buffer | string): boolean };
  /** Sweeper visits since the last write (see `silentVisit`). */
  private silent = 0;
  private readonly budget: number;
  private readonly onClose: SessionOptions['onClose'];
  /** The hooks' headers until the head is sent (see `open`). */
  private headers: OutgoingHttpHeaders | undefined;

  constructor(
    private readonly res: ServerResponse,
    options: SessionOptions,
  ) {
    this.channels = options.channels;
    this.userId = options.userId;
    this.expiresAt = options.expiresAt;
    this.positions = new Array<number>(options.channels.length).fill(0);
    this.out = res;
    this.budget = options.sendBufferBytes;
    this.onClose = options.onClose;
    this.headers = options.headers;
    (res as SessionResponse)[SESSION] = this;
    res.on('close', onResponseClose);
    res.on('error', onResponseError);
  }

  /**
   * Sends the response head. No chunked encoding: the stream is the whole response and ends
   * with the connection, so every event goes to the socket as-is. Proxies get the headers
   * they need to pass it through unbuffered and uncompressed.
   */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    const res = this.res;
    res.useChunkedEncodingByDefault = false;
    // The hooks' headers go in the same object, not through `setHeader`: a response that
    // had a header set keeps Node's header table (about 0.35 KiB) for as long as it lives.
    const hooks = this.headers;
    this.headers = undefined;
    // Not `{ ...hooks, ... }` (docs/performance.md, "Object literals").
    res.writeHead(200, hooks ? Object.assign({}, hooks, STREAM_HEADERS) : STREAM_HEADERS);
    // Node keeps the head it sent (`_header`) for as long as the response lives, as a tree of
    // the small strings it was joined from: about 24 per stream, 0.75 KiB of heap (heap
    // snapshot of 5,000 streams, bench/results/notebook.md). Reading it as a number makes V8 flatten
    // it in place, and the tree is freed. Only a read: were V8 to stop flattening here,
    // nothing would change but the memory.
    const head = (res as unknown as { _header?: unknown })._header;
    if (typeof head === 'string') Number(head);
    res.socket?.setNoDelay(true);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True once the response head was sent. */
  get isOpen(): boolean {
    return this.opened;
  }

  /** Bytes written but not yet accepted by the kernel. */
  get unsentBytes(): number {
    return this.res.writableLength;
  }

  /** The resume cursor: stream positions first when streams are under way (see stream-channel.ts). */
  cursor(): string {
    const durable = formatCursor(this.tag, this.positions);
    if (!this.streams) return durable;
    const named = [...this.streams].map(([i, p]): [string, StreamPosition] => [
      this.channels[i] ?? '',
      p,
    ]);
    return formatStreamEntries(named) + durable;
  }

  /** What this session was given of the stream on channel `index`, if one is under way. */
  streamAt(index: number): StreamPosition | undefined {
    return this.streams?.get(index);
  }

  /** Sets (a resume cursor's) or forgets the position in the stream on channel `index`. */
  setStream(index: number, at: StreamPosition | undefined): void {
    if (at) (this.streams ??= new Map()).set(index, at);
    else if (this.streams?.delete(index) && this.streams.size === 0) this.streams = undefined;
  }

  /** Sends a replayed `ai_start` or `ai_response` frame unless this session has it. */
  sendToken(index: number, frame: Frame): void {
    const bytes = frame.mark && this.streamed(index, frame.mark, frame);
    if (bytes) this.write(bytes);
  }

  /** The bytes of a stream frame, moving the stream position; undefined if already given. */
  private streamed(index: number, mark: TokenMark, frame: Frame): Buffer | undefined {
    const at = this.streams?.get(index);
    if (at && at.stream === mark.stream) {
      if (mark.i < at.n) return undefined;
      // Ahead of the next index (published out of order, not by the stream service): passed
      // on, but the position moves only over contiguous tokens, so none is skipped.
      if (mark.i === at.n) this.setStream(index, { stream: mark.stream, n: at.n + 1 });
    } else this.setStream(index, { stream: mark.stream, n: mark.i + 1 });
    return frame.withId(this.cursor());
  }

  /**
   * Writes raw bytes; cuts the connection when the client falls behind its budget. `now`
   * writes at once unless this turn already corked the socket (whose bytes must go first).
   */
  write(chunk: Buffer | string, now = false): boolean {
    // Nothing goes out before the head: the shared heartbeat timer also visits streams still
    // setting up (a slow store), and a write would send Node's default head (chunked, no
    // content type), which EventSource rejects for good and which makes open() throw.
    if (this.closed || !this.opened) return false;
    this.silent = 0;
    if (!this.corked && !now) {
      const socket = this.res.socket;
      if (socket) {
        this.corked = true;
        socket.cork();
        corked.push(this);
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(uncorkAll);
        }
      }
    }
    const ok = this.out.write(chunk);
    if (this.out === this.res && this.res.socket) this.out = this.res.socket;
    if (!ok && this.res.writableLength > this.budget) {
      this.close('slow-consumer');
      return false;
    }
    return true;
  }

  /** Sends what this turn's writes corked (see `uncorkAll`). */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.res.socket?.uncork();
  }

  /** True when unsent data passed half the budget: replay waits for `drained()` then. */
  get needsDrain(): boolean {
    return this.res.writableLength > this.budget / 2;
  }

  /** Resolves when the socket has drained (used by replay to pace itself). */
  async drained(): Promise<void> {
    // The socket's, not the response's: writes after the first go to the socket (`out`).
    const socket = this.res.socket;
    if (this.closed || !socket?.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      this.res.on('close', done);
    });
  }

  writeComment(text: string): void {
    this.write(encodeComment(text));
  }

  /** A control event (connected, reset, shutdown): JSON data, optional cursor id. */
  writeControl(type: string, data: unknown, withCursor: boolean): void {
    this.write(
      encodeEvent({
        event: type,
        data: JSON.stringify(data),
        ...(withCursor ? { id: this.cursor() } : {}),
      }),
    );
  }

  writeRetry(ms: number): void {
    this.write(encodeEvent({ retry: ms }));
  }

  heartbeat(): void {
    this.write(HEARTBEAT);
  }

  /** Counts one visit of the shared sweeper; returns the visits since the last write. */
  silentVisit(): number {
    return ++this.silent;
  }

  /** Sends a durable event at channel `index` if it is past this session's position. */
  sendDurable(index: number, event: BrokerEvent & { seq: number }, frame: Frame): void {
    const bytes = this.framed(index, event, frame);
    if (bytes) this.write(bytes);
  }

  /** The bytes of an event at channel `index`, moving the position; undefined if sent. */
  private framed(index: number, event: BrokerEvent, frame: Frame): Buffer | undefined {
    if (event.seq === undefined) {
      return frame.mark ? this.streamed(index, frame.mark, frame) : frame.body;
    }
    if (event.seq <= (this.positions[index] ?? 0)) return undefined;
    this.positions[index] = event.seq;
    if (this.streams) {
      // A stream's end drops its position: the cursor names only streams under way.
      if (event.type === AI_COMPLETE) {
        const at = this.streams.get(index);
        if (at && markOf(event.type, event.data)?.stream === at.stream)
          this.setStream(index, undefined);
      }
      if (this.streams) return frame.withId(this.cursor());
    }
    return frame.withCursor(this.tag, this.positions);
  }

  /** Called by the hub with the live events of one channel from `items[from]` on: one write
   * for all. */
  deliverAll(index: number, items: readonly Outgoing[], from = 0): void {
    if (this.closed) return;
    if (this.replaying) {
      for (let i = from; i < items.length; i++) {
        const o = items[i]!;
        this.deliver(index, o.event, o.frame);
      }
      return;
    }
    let single: Buffer | undefined;
    let many: Buffer[] | undefined;
    for (let i = from; i < items.length; i++) {
      const o = items[i]!;
      const shown = this.liveFrame(o.event, o.frame);
      const bytes = shown && this.framed(index, o.event, shown);
      if (!bytes) continue;
      if (!single) single = bytes;
      else (many ??= [single]).push(bytes);
    }
    if (many) this.write(Buffer.concat(many), true);
    else if (single) this.write(single, true);
  }

  /** A live event on one of this session's channels (while replaying: held for later). */
  deliver(index: number, event: BrokerEvent, frame: Frame): void {
    if (this.closed) return;
    if (this.replaying) {
      (this.pending ??= []).push({ index, event, frame });
      this.pendingBytes += frame.body.length;
      if (this.pendingBytes > this.budget) this.close('slow-consumer');
      return;
    }
    const shown = this.liveFrame(event, frame);
    const bytes = shown && this.framed(index, event, shown);
    if (bytes) this.write(bytes);
  }

  /** The frame this stream shows for a live event, or undefined to skip it. */
  protected liveFrame(_event: BrokerEvent, frame: Frame): Frame | undefined {
    return frame;
  }

  /** Ends the replay phase: flushes held live events, skipping those already replayed. */
  goLive(): void {
    const held = this.pending;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.replaying = false;
    if (held) for (const p of held) this.deliver(p.index, p.event, p.frame);
  }

  /** Ends the stream from the server side. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.end(reason);
    this.finish(reason);
  }

  /** Ends the response of a stream closed by the server (a poll answers it instead). */
  protected end(reason: CloseReason): void {
    if (reason === 'slow-consumer' || reason === 'error') this.res.destroy();
    else {
      this.uncork(); // a stream that ends sends what is corked first
      this.res.end();
    }
  }

  /** The response closed or failed (its listeners, above). */
  ended(reason: 'client-closed' | 'error'): void {
    this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = undefined;
    this.onClose(this, reason);
  }
}
