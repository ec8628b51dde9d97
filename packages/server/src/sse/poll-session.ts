import type { ServerResponse } from 'node:http';
import type { BrokerEvent } from '../broker/broker.js';
import { channelCursors } from '../hub/cursor.js';
import type { Frame } from './frame.js';
import { type CloseReason, type Outgoing, Session, type SessionOptions } from './session.js';

/** One event of a poll answer: the fields of its stream frame. */
export interface PolledEvent {
  /** The composite cursor after this event (the stream's `id:`); absent for ephemeral events. */
  readonly id?: string;
  readonly event: string;
  readonly channel: string;
  /** The data text as an SSE client joins the `data:` lines (every line break a LF). */
  readonly data: string;
}

/** The JSON answer of `GET /poll` (docs/http-api.md). */
export interface PollAnswer {
  readonly events: PolledEvent[];
  readonly resets: { reason: string; channels: string[] }[];
  readonly cursor: string;
  readonly cursors: Record<string, string>;
  readonly retryMs: number;
  /** True when there are more events after `cursor` than one answer holds: poll again now. */
  readonly more: boolean;
}

const LINE_BREAK = /\r\n|\r/g;

/**
 * A long poll (`GET /poll`): a Session that the hub joins, positions, replays and feeds live
 * like any stream, but that collects the events it is given instead of writing them, and is
 * answered once as JSON. It never sends a stream head, so nothing the hub or the sweeper
 * writes to streams (heartbeats, `shutdown`, `token-expired`) reaches it; closing it, for any
 * reason but the client going away, is what makes the route answer (see `whenClosed`).
 *
 * Positions move only for the events it keeps, so the answer's cursor never passes an event
 * it did not include: one over `maxEvents` is left for the next poll (`more`).
 */
export class PollSession extends Session {
  readonly events: PolledEvent[] = [];
  resets: { reason: string; channels: string[] }[] = [];
  /** Each channel's own tag (set by the hub with the positions). */
  tags: readonly string[] = [];
  more = false;
  /** Set by the hub once the positions are the cursor's (an answer before that has none). */
  positioned = false;
  private live = false;
  private closedWith: CloseReason | undefined;
  private readonly over: Promise<CloseReason>;
  private settle: (reason: CloseReason) => void = () => {};

  constructor(
    res: ServerResponse,
    options: SessionOptions,
    readonly maxEvents: number,
  ) {
    // Object.assign, not `{ ...options, onClose }` (docs/performance.md, "Object literals").
    super(
      res,
      Object.assign({}, options, {
        onClose: (session: Session, reason: CloseReason) => {
          this.closedWith = reason;
          options.onClose(session, reason);
          this.settle(reason);
        },
      }),
    );
    this.over = new Promise((resolve) => (this.settle = resolve));
  }

  /** Resolves with the close reason once the poll is over. */
  whenClosed(): Promise<CloseReason> {
    return this.closedWith !== undefined ? Promise.resolve(this.closedWith) : this.over;
  }

  /** True when the answer has something to say now: events, or a reset. */
  get hasNews(): boolean {
    return this.events.length > 0 || this.resets.length > 0;
  }

  answer(retryMs: number): PollAnswer {
    return {
      events: this.events,
      resets: this.resets,
      cursor: this.cursor(),
      cursors: channelCursors(this.channels, this.tags, this.positions),
      retryMs,
      more: this.more,
    };
  }

  /** No stream head: the route answers with JSON. */
  override open(): void {}

  /** The response is the route's to answer; closing only ends the poll's subscriptions. */
  protected override end(): void {}

  override sendDurable(index: number, event: BrokerEvent & { seq: number }): void {
    this.take(index, event);
  }

  override deliverAll(index: number, items: readonly Outgoing[], from = 0): void {
    for (let i = from; i < items.length; i++) {
      const o = items[i]!;
      this.deliver(index, o.event, o.frame);
    }
  }

  override deliver(index: number, event: BrokerEvent, frame: Frame): void {
    // Before going live the Session holds live events (and skips replayed ones later).
    if (!this.live) super.deliver(index, event, frame);
    else this.take(index, event);
  }

  override goLive(): void {
    this.live = true;
    super.goLive();
  }

  private take(index: number, event: BrokerEvent): void {
    if (this.isClosed) return;
    const durable = event.seq !== undefined;
    if (durable && event.seq <= (this.positions[index] ?? 0)) return;
    if (this.events.length >= this.maxEvents) {
      // Left for the next poll (read from the store); ephemeral events are not kept.
      if (durable) this.more = true;
      return;
    }
    const data = event.data.replace(LINE_BREAK, '\n');
    if (durable) {
      this.positions[index] = event.seq;
      this.events.push({ id: this.cursor(), event: event.type, channel: event.channel, data });
    } else this.events.push({ event: event.type, channel: event.channel, data });
    // A live event ends the wait; the close waits for the end of this turn, so that the
    // events the hub hands over in the same walk make the same answer.
    if (this.live && this.events.length === 1) setImmediate(() => this.close('poll-answered'));
  }
}

/** How often held polls are checked for the end of their wait. */
export const POLL_SWEEP_MS = 250;

/**
 * The one timer of every held poll on a node (no per-connection timers on the hot path): a
 * sweep every `sweepMs` answers the polls whose wait has ended, so a poll answers up to one
 * sweep late, and a thousand held polls cost one timer, not a thousand. A poll that ends
 * otherwise (an event, the client going away, shutdown) is `release`d.
 *
 * The timer runs only while a poll is held, and is not unref'd: a held poll's socket keeps
 * the process alive anyway, and a listed timer lets tests see that it is one and that it
 * stops.
 */
export class PollDeadlines {
  /** Each held poll and when its wait ends (Date.now() time). */
  private readonly held = new Map<PollSession, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sweepMs = POLL_SWEEP_MS) {}

  /** Answers `session` once `waitMs` has passed (at the first sweep after it). */
  hold(session: PollSession, waitMs: number): void {
    this.held.set(session, Date.now() + waitMs);
    this.timer ??= setInterval(() => this.sweep(), this.sweepMs);
  }

  release(session: PollSession): void {
    this.held.delete(session);
    if (this.held.size === 0) this.stop();
  }

  /** Stops the timer; the polls still held are left to their other ends (shutdown). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [session, until] of this.held) {
      if (until > now) continue;
      this.held.delete(session);
      session.close('poll-answered');
    }
    if (this.held.size === 0) this.stop();
  }
}
