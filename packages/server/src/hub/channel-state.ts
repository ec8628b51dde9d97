import { isReportedBackendError } from '../backend-health.js';
import type { BrokerEvent } from '../broker/broker.js';
import type { Logger } from '../logger.js';
import { Frame } from '../sse/frame.js';
import type { Outgoing, Session } from '../sse/session.js';
import type { Store, StoredEvent } from '../store/store.js';
import { isStreamChannel, markOf } from '../streams/stream-channel.js';

/** What a channel needs from the hub that holds it. */
export interface ChannelHost {
  readonly store: Pick<Store, 'readAfter'>;
  readonly log: Logger;
  readonly stats: { backfills: number };
  /** Queues an event for the channel's local subscribers (the hub's shared walk). */
  fanOut(state: ChannelState, event: BrokerEvent, frame: Frame): void;
  /** False once the channel was dropped (its last subscriber left). */
  hasChannel(state: ChannelState): boolean;
}

/** Durable events carry their sequence; ephemeral ones travel without. */
export function isStored(event: BrokerEvent): event is StoredEvent {
  return event.seq !== undefined;
}

/**
 * What a channel starts with, shared: most user channels of a node sit idle, and each would
 * otherwise keep an empty array and a settled promise of its own.
 */
const NONE_PENDING: Outgoing[] = Object.freeze([]) as unknown as Outgoing[];
const SETTLED: Promise<void> = Promise.resolve();

/** One subscriber of a channel: where the channel is in its list, and what it was given. */
interface Subscription {
  readonly session: Session;
  readonly index: number;
  /** Number (see `ChannelState.pendingBase`) of the first live event not yet written to it. */
  upTo: number;
}

/**
 * Node-local state of one channel. The broker is at most once and may reorder between
 * publishers, so the channel keeps the last sequence it delivered and turns the broker's
 * stream into a gap-free ordered one: duplicates are dropped, and a jump in sequence is
 * filled from the Store (a later sequence being visible implies the earlier ones are, see
 * the Store contract) before anything after it is delivered.
 */
export class ChannelState {
  /** Local subscribers, in the order they joined. */
  readonly subscribers = new Map<Session, Subscription>();
  /** Last sequence delivered to subscribers; undefined until the head is known. */
  lastSeq: number | undefined;
  /**
   * Live events not yet written to every subscriber, oldest first; `pending[0]` is event
   * number `pendingBase` of this channel (numbers count events since the channel state was
   * made).
   */
  pending: Outgoing[] = NONE_PENDING;
  pendingBase = 0;
  /** The walk over `subscribers` in progress, and the event number its pass covers up to. */
  private walker: Iterator<Subscription> | undefined;
  private passEnd = 0;
  /**
   * Durable events waiting for the head or for a backfill, by sequence; made when the first
   * one arrives out of order and dropped once empty. An empty Map is about 190 bytes, one per
   * channel, and spreading its keys on every in-order event allocated an array each time.
   */
  private held: Map<number, StoredEvent> | undefined;
  private filling = false;
  private again = false;
  /** Settles once the channel has started (see `start`). */
  ready: Promise<void>;
  private readonly streamChannel: boolean;

  constructor(
    readonly name: string,
    private readonly hub: ChannelHost,
  ) {
    this.ready = SETTLED;
    this.streamChannel = isStreamChannel(name);
  }

  /**
   * Adds a live event to `pending`; true if it is the only one (the channel then joins the
   * hub's walk). A channel's array is made by its first event and kept for the next ones.
   */
  queue(outgoing: Outgoing): boolean {
    if (this.pending === NONE_PENDING) this.pending = [];
    return this.pending.push(outgoing) === 1;
  }

  /** Adds a subscriber; it is given the live events still pending (its positions drop any it
   * already has) and every later one. */
  subscribe(session: Session, index: number): void {
    this.subscribers.set(session, { session, index, upTo: this.pendingBase });
  }

  /**
   * Writes pending events to up to `budget` subscribers, continuing the walk in progress;
   * returns the budget left. The walk is over (`walkDone`) once every subscriber has every
   * event.
   *
   * The walk goes round the subscribers in passes. Each subscriber visited gets, in one
   * write, every event it has not been given, so events published while a pass is under way
   * reach the subscribers still ahead of it in the same pass, and the ones behind it in the
   * next: an event waits at most about one pass, and the busier the channel, the more events
   * share each write. (Flushing the whole channel at once made an event that arrived during a
   * flush wait for that flush and then for its own: two passes.) A pass over a Map also visits
   * subscribers that join during it; once it is over, every subscriber has everything up to
   * where the pass began, and those events are dropped.
   */
  walk(budget: number): number {
    for (;;) {
      if (!this.walker) {
        if (this.pending.length === 0) return budget;
        // values(), not entries(): no [key, value] array per subscriber visited.
        this.walker = this.subscribers.values();
        this.passEnd = this.pendingBase + this.pending.length;
      }
      if (budget <= 0) return 0;
      const next = this.walker.next();
      if (next.done) {
        const done = this.passEnd - this.pendingBase;
        // Emptied in place when the pass covered everything (the usual case): a new empty
        // array per channel per pass outlives the turn, held by the long-lived state.
        if (done === this.pending.length) this.pending.length = 0;
        else this.pending = this.pending.slice(done);
        this.pendingBase = this.passEnd;
        this.walker = undefined;
        continue;
      }
      const sub = next.value;
      const total = this.pendingBase + this.pending.length;
      if (sub.upTo < total) {
        sub.session.deliverAll(sub.index, this.pending, Math.max(0, sub.upTo - this.pendingBase));
        sub.upTo = total;
      }
      budget--;
    }
  }

  get walkDone(): boolean {
    return this.walker === undefined && this.pending.length === 0;
  }

  accept(event: BrokerEvent): void {
    if (!isStored(event)) {
      const frame = new Frame(event.type, event.data, event.channel);
      // Parsed once per node, so that each session can skip tokens it already has.
      if (this.streamChannel) frame.mark = markOf(event.type, event.data);
      this.hub.fanOut(this, event, frame);
      return;
    }
    if (this.lastSeq !== undefined && event.seq <= this.lastSeq) return;
    if (this.lastSeq !== undefined && event.seq === this.lastSeq + 1 && !this.filling) {
      this.emit(event);
      this.drainHeld();
      return;
    }
    (this.held ??= new Map<number, StoredEvent>()).set(event.seq, event);
    if (this.lastSeq !== undefined) void this.backfill();
  }

  /** True once `start` has run: the broker subscription is active and the head known. */
  get started(): boolean {
    return this.lastSeq !== undefined;
  }

  /** Sets the starting point from a head read after the broker subscription is active. */
  start(head: number): void {
    this.lastSeq = head;
    // `ready` is waited on only until the channel has started; the start's own promise
    // would otherwise stay with the channel for as long as it lives.
    this.ready = SETTLED;
    this.drainHeld();
    if (this.held) void this.backfill();
  }

  /**
   * Reads everything after `lastSeq` from the store and delivers it in order. A call while a
   * backfill runs makes it go round once more (the running read may predate the events the
   * new call is about); a failed read is retried after a second.
   */
  async backfill(): Promise<void> {
    if (this.lastSeq === undefined) return;
    if (this.filling) {
      this.again = true;
      return;
    }
    this.filling = true;
    let failed = false;
    try {
      do {
        this.again = false;
        this.hub.stats.backfills++;
        for (;;) {
          const rows = await this.hub.store.readAfter(this.name, this.lastSeq, 1000);
          for (const row of rows) {
            if (row.seq > this.lastSeq) this.emit(row);
          }
          if (rows.length < 1000) break;
        }
      } while (this.again);
    } catch (err) {
      failed = true;
      // A store outage is logged once by the store's health; here only at debug.
      const level = isReportedBackendError(err) ? 'debug' : 'error';
      this.hub.log[level]({ err, channel: this.name }, 'backfill failed; retrying in 1 s');
    } finally {
      this.filling = false;
    }
    this.drainHeld();
    if (failed && this.hub.hasChannel(this)) {
      setTimeout(() => void this.backfill(), 1000).unref();
    }
  }

  private drainHeld(): void {
    const held = this.held;
    if (this.lastSeq === undefined || !held) return;
    for (const seq of [...held.keys()]) if (seq <= this.lastSeq) held.delete(seq);
    for (;;) {
      const next = held.get(this.lastSeq + 1);
      if (!next) break;
      held.delete(next.seq);
      this.emit(next);
    }
    if (held.size === 0) this.held = undefined;
  }

  private emit(event: StoredEvent): void {
    this.lastSeq = event.seq;
    this.hub.fanOut(this, event, new Frame(event.type, event.data, event.channel));
  }
}
