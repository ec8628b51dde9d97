import { isReportedBackendError } from '../backend-health.js';
import type { Broker, BrokerEvent, BrokerRefusal } from '../broker/broker.js';
import { HeraldError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ChannelHead, EventInput, Store, StoredEvent } from '../store/store.js';
import { Frame } from '../sse/frame.js';
import { PollSession } from '../sse/poll-session.js';
import type { Session } from '../sse/session.js';
import {
  channelCursors,
  channelSetTag,
  channelTag,
  formatCursor,
  isPerChannelCursor,
  parseCursor,
  parsePerChannelCursor,
} from './cursor.js';
import { newEventId } from './event-id.js';
import { type PublishPlan, plannedEventId } from './publish-plan.js';
import { ChannelState, isStored } from './channel-state.js';
import { ReplayFrames } from './replay-frames.js';
import { AI_COMPLETE, isStreamChannel, splitStreamCursor } from '../streams/stream-channel.js';
import { SharedReads } from './shared-reads.js';

export interface PublishInput {
  readonly channel: string;
  readonly type: string;
  /** Wire text of the payload. */
  readonly data: string;
  readonly durable: boolean;
  /** Event id; generated when absent. */
  readonly id?: string;
  /**
   * Publication time, ms since the epoch; the publish's own when absent. A planned inbox send
   * gives its plan's, so that a retry finds the event by it (`Store.append` with `resume`).
   */
  readonly ts?: number;
}

export interface PublishedEvent {
  readonly id: string;
  readonly channel: string;
  readonly seq?: number;
  /**
   * A durable event's SSE id as a stream of its channel alone sees it, `<tag1>.<seq36>`:
   * also its per-channel cursor, so `<channel>=<streamId>` resumes any stream right after it.
   */
  readonly streamId?: string;
}

export interface HubOptions {
  readonly store: Store;
  readonly broker: Broker;
  readonly log: Logger;
  /** Prometheus metrics of this server (labelled counters and histograms). */
  readonly metrics: Metrics;
  readonly replayMax: number;
  readonly replayPageSize: number;
  /** Longest accepted Last-Event-ID. */
  readonly maxCursorLength: number;
  /** Resumes AI answers on stream channels (streams/catch-up.ts); absent: none. */
  readonly streams?: StreamReplay;
}

/** What the hub asks of the stream channels while it attaches a session (docs/streams.md). */
export interface StreamReplay {
  /** Before a replayed `ai_complete` at channel `index`: the tokens of its stream not given. */
  beforeComplete(session: Session, index: number, event: StoredEvent): Promise<void>;
  /** After the replay: each stream channel's stream under way, from where the session is. */
  catchUp(session: Session): Promise<void>;
}

export interface AttachOptions {
  /** Last-Event-ID header or ?lastEventId=, if any. */
  readonly cursor: string | undefined;
  readonly retryMs: number;
  /**
   * Written instead of the `connected` event, once the live subscription is active and
   * before going live (live events are held meanwhile): the alert stream's snapshot.
   */
  readonly preamble?: (session: Session) => Promise<void>;
}

export interface HubStats {
  connections: number;
  published: number;
  delivered: number;
  replayed: number;
  resets: number;
  slowConsumers: number;
  backfills: number;
}

/** Counters at zero: a hub's at start, and the sum the admin stats add workers' into. */
export function emptyHubStats(): HubStats {
  return {
    connections: 0,
    published: 0,
    delivered: 0,
    replayed: 0,
    resets: 0,
    slowConsumers: 0,
    backfills: 0,
  };
}

/**
 * Subscribers written to per turn of the event loop, over all channels, before the walk
 * yields to I/O (about 5 ms of socket writes here). New events published meanwhile join the
 * walk in progress: see `ChannelState.walk`.
 */
const WALK_SLICE = 500;

/** Channels whose `channelTag` a node keeps for publish answers before it starts afresh. */
const MAX_KNOWN_TAGS = 100_000;

/** The event of `input`, published at `ts`; a new id when it came without one. */
function eventOf(input: PublishInput, ts: number): EventInput {
  const { channel, type, data } = input;
  return { id: input.id ?? newEventId(), channel, type, data, ts: input.ts ?? ts };
}

/** The events of the durable inputs, to store. */
function durableEvents(inputs: readonly PublishInput[], ts: number): EventInput[] {
  const out: EventInput[] = [];
  for (const i of inputs) if (i.durable) out.push(eventOf(i, ts));
  return out;
}

/** A `reset` event's data: why, and which of the stream's channels it is about. */
export interface Reset {
  readonly reason: 'invalid-cursor' | 'cursor-mismatch' | 'expired' | 'stream-gone';
  readonly channels: string[];
}

/**
 * The hub: channel registry, local subscribers, fan-out, and replay-then-live.
 */
export class Hub {
  readonly store: Store;
  readonly broker: Broker;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly stats: HubStats = emptyHubStats();
  readonly sessions = new Set<Session>();
  private readonly channels = new Map<string, ChannelState>();
  /** Channels with a walk under way (pending events), in the order they take turns (`walk`). */
  private walking: ChannelState[] = [];
  private walkScheduled = false;
  /** Open streams per user id, so "connected users" costs nothing to read. */
  private readonly users = new Map<string, number>();
  private readonly options: HubOptions;
  private readonly unsent = new Map<string, StoredEvent>();
  /**
   * Each published channel's own tag (`channelTag` of its epoch), for the `streamId` of publish
   * answers. An epoch is made with the channel's row and nothing in Herald deletes that row, so
   * once read it holds; it costs one `ensureChannels` the first time a node publishes to a
   * channel, and a map lookup after that.
   */
  private readonly tags = new Map<string, string>();
  private readonly replayFrames = new ReplayFrames();
  private readonly sharedReads: SharedReads;
  private republishTimer: NodeJS.Timeout | undefined;

  constructor(options: HubOptions) {
    this.options = options;
    this.store = options.store;
    this.sharedReads = new SharedReads(options.store);
    this.broker = options.broker;
    this.log = options.log;
    this.metrics = options.metrics;
  }

  async start(): Promise<void> {
    await this.broker.start({
      onMessage: (event) => this.channels.get(event.channel)?.accept(event),
      onReconnect: () => {
        for (const state of this.channels.values()) void state.backfill();
      },
    });
  }

  /** True while `state` is the registered state of its channel (it has subscribers). */
  hasChannel(state: ChannelState): boolean {
    return this.channels.get(state.name) === state;
  }

  /** Number of channels with at least one local subscriber. */
  /** Rejects when the store does not answer (readiness). */
  pingStore(): Promise<void> {
    return this.store.ping();
  }

  /** Rejects when the broker does not answer (readiness). */
  pingBroker(): Promise<void> {
    return this.broker.ping();
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Number of distinct user ids with at least one open stream on this node. */
  get userCount(): number {
    return this.users.size;
  }

  /** True while user `userId` has an open stream on this node. */
  hasUser(userId: string): boolean {
    return this.users.has(userId);
  }

  /** Local subscriber count of every channel with subscribers (for the admin API). */
  channelSubscribers(): { channel: string; subscribers: number }[] {
    const out: { channel: string; subscribers: number }[] = [];
    for (const [channel, state] of this.channels) {
      out.push({ channel, subscribers: state.subscribers.size });
    }
    return out;
  }

  /**
   * Publishes events. Durable events are stored first (all or none) and only then handed to
   * the broker, so an acknowledged durable event can always be replayed. Once they are
   * committed the answer does not wait on the broker: a stalled Redis held publishes for its
   * whole command timeout (5.9-11 s measured), and a publisher that gave up retried an event
   * that was stored. Other nodes get them when the broker takes them, or backfill from the
   * store. Only ephemeral events, which exist nowhere else, wait for the broker's answer.
   */
  async publish(inputs: readonly PublishInput[], plan?: PublishPlan): Promise<PublishedEvent[]> {
    if (plan) return this.publishPlanned(inputs, plan);
    return this.storeAndAnnounce(inputs, false);
  }

  /**
   * A publish under an Idempotency-Key: the events take the plan's time and ids. When the plan
   * is resumed (a retry took the claim of a holder that died), the events that holder stored
   * are found and keep their sequences, so the answer is the one the holder would have given
   * (`republish`). An ephemeral event exists nowhere else: it is sent again, with its planned
   * id.
   */
  private publishPlanned(
    inputs: readonly PublishInput[],
    plan: PublishPlan,
  ): Promise<PublishedEvent[]> {
    const planned = inputs.map((i, at) => ({
      channel: i.channel,
      type: i.type,
      data: i.data,
      durable: i.durable,
      id: i.id ?? plannedEventId(plan, at),
      ts: plan.ts,
    }));
    return this.storeAndAnnounce(planned, plan.resumed);
  }

  /**
   * Publishes events an earlier attempt may have published already (a planned send retried
   * after the node running it died): each input names its id and time, the durable ones found
   * stored keep their sequence and are not stored again (`Store.append` with `resume`), the
   * others are stored now. Every one is handed to the broker again, and every node drops a
   * sequence it already delivered (`ChannelState.accept`).
   */
  republish(inputs: readonly PublishInput[]): Promise<PublishedEvent[]> {
    return this.storeAndAnnounce(inputs, true);
  }

  private async storeAndAnnounce(
    inputs: readonly PublishInput[],
    resume: boolean,
  ): Promise<PublishedEvent[]> {
    const ts = Date.now();
    const toStore = durableEvents(inputs, ts);
    const stored =
      toStore.length > 0
        ? await this.store.append(toStore, resume ? { resume: true } : undefined)
        : [];
    return this.announce(inputs, toStore, stored, ts);
  }

  /**
   * Publishes the events `write` gives, storing the durable ones in the same transaction as
   * what `write` stores itself (the inbox's rows) when the store can (`Store.appendWith`);
   * otherwise `write` runs first and its events are published after it. Resolves, after the
   * commit, with the write's value and the events published.
   */
  async publishWith<T>(
    write: () => { readonly value: T; readonly inputs: readonly PublishInput[] },
  ): Promise<{ value: T; events: PublishedEvent[] }> {
    if (!this.store.appendWith) {
      const { value, inputs } = write();
      return { value, events: inputs.length > 0 ? await this.publish(inputs) : [] };
    }
    const ts = Date.now();
    const { value, stored } = await this.store.appendWith(() => {
      const w = write();
      const events = durableEvents(w.inputs, ts);
      return { value: { value: w.value, inputs: w.inputs, events }, events };
    });
    const events = await this.announce(value.inputs, value.events, stored, ts);
    return { value: value.value, events };
  }

  /** Hands stored and ephemeral events to the broker; answers what was published. */
  private async announce(
    inputs: readonly PublishInput[],
    toStore: readonly EventInput[],
    stored: readonly StoredEvent[],
    ts: number,
  ): Promise<PublishedEvent[]> {
    if (stored.length !== toStore.length)
      throw new Error('store returned fewer events than appended');
    const tags = await this.tagsOf(toStore);
    const events: BrokerEvent[] = [];
    const out: PublishedEvent[] = [];
    let d = 0;
    for (const input of inputs) {
      const tag = input.durable ? tags[d] : undefined;
      const ev: BrokerEvent = input.durable ? stored[d++]! : eventOf(input, ts);
      events.push(ev);
      out.push(
        ev.seq === undefined
          ? { id: ev.id, channel: ev.channel }
          : {
              id: ev.id,
              channel: ev.channel,
              seq: ev.seq,
              streamId: formatCursor(tag ?? '', [ev.seq]),
            },
      );
      this.metrics.eventPublished(input.type, input.durable);
    }
    this.stats.published += inputs.length;
    const sent = this.broker
      .publishAll(events)
      .then((refused) => this.unsentAfter(events, refused));
    if (events.every(isStored)) return out;
    if (await sent) throw new HeraldError('HERALD_ERR_BROKER_UNAVAILABLE');
    return out;
  }

  /** Schedules the refused durable events again; true when an ephemeral one was lost. */
  private unsentAfter(events: readonly BrokerEvent[], refused: readonly BrokerRefusal[]): boolean {
    let ephemeralLost = false;
    for (const { index, reason } of refused) {
      this.log[isReportedBackendError(reason) ? 'debug' : 'warn'](
        { err: reason },
        'broker publish failed',
      );
      const ev = events[index]!;
      if (isStored(ev)) this.republishLater(ev);
      else ephemeralLost = true;
    }
    return ephemeralLost;
  }

  /**
   * The channel tag of each of `events` (stored), from `tags`; the channels this node has not
   * published to yet are read once.
   */
  private async tagsOf(events: readonly EventInput[]): Promise<string[]> {
    let missing: Set<string> | undefined;
    for (const e of events) if (!this.tags.has(e.channel)) (missing ??= new Set()).add(e.channel);
    const read = new Map<string, string>();
    if (missing) {
      if (this.tags.size > MAX_KNOWN_TAGS) this.tags.clear();
      for (const head of await this.store.ensureChannels([...missing])) {
        const tag = channelTag(head.channel, head.epoch);
        read.set(head.channel, tag);
        this.tags.set(head.channel, tag);
      }
    }
    return events.map((e) => this.tags.get(e.channel) ?? read.get(e.channel) ?? '');
  }

  /**
   * A durable event is safe in the store even when the broker refused it, but other nodes
   * would not hear of it until the channel's next event. So the newest such event of each
   * channel is re-sent every second until the broker takes it: a node that receives it sees
   * the gap in sequence and backfills everything before it from the store.
   */
  private republishLater(event: StoredEvent): void {
    const prev = this.unsent.get(event.channel);
    if (!prev || prev.seq < event.seq) this.unsent.set(event.channel, event);
    this.republishTimer ??= setInterval(() => {
      for (const [channel, ev] of this.unsent) {
        this.broker.publish(ev).then(
          () => {
            if (this.unsent.get(channel) === ev) this.unsent.delete(channel);
            if (this.unsent.size === 0 && this.republishTimer) {
              clearInterval(this.republishTimer);
              this.republishTimer = undefined;
            }
          },
          () => undefined,
        );
      }
    }, 1000);
    this.republishTimer.unref();
  }

  /**
   * Called by a ChannelState for each event to deliver locally, in order. The event joins
   * the channel's pending events; the walk (one setImmediate per turn while any channel has
   * pending events) writes them to the subscribers, all of a subscriber's in one write.
   */
  fanOut(state: ChannelState, event: BrokerEvent, frame: Frame): void {
    const n = state.subscribers.size;
    this.stats.delivered += n;
    // Once per event, not per subscriber: the hot path stays one increment and one observe.
    this.metrics.eventsDelivered(event.type, event.seq !== undefined, n, event.ts);
    if (state.queue({ event, frame })) this.walking.push(state);
    if (!this.walkScheduled) {
      this.walkScheduled = true;
      setImmediate(this.walk);
    }
  }

  /**
   * Writes to up to WALK_SLICE subscribers, the channels in turn, and comes back next turn
   * while any channel has events pending. A channel whose walk is not over when the slice is
   * used up goes to the back of the line: a busy channel that never stops getting events
   * must not keep the others waiting, so a small channel waits at most about one slice.
   */
  private readonly walk = (): void => {
    this.walkScheduled = false;
    const line = this.walking;
    let budget = WALK_SLICE;
    let next = 0;
    while (budget > 0 && next < line.length) {
      const state = line[next++]!;
      budget = state.walk(budget);
      if (!state.walkDone) line.push(state);
    }
    line.splice(0, next);
    if (line.length > 0 && !this.walkScheduled) {
      this.walkScheduled = true;
      setImmediate(this.walk);
    }
  };

  /**
   * Adds a session to the states of its channels and returns the heads of all of them, read
   * after every one of their broker subscriptions is active (so the session misses nothing
   * between its positions and live delivery). New states are created and subscribed here;
   * when no other attach is still starting one of the session's channels, one head read
   * both starts the new states and positions the session. Otherwise the new states start
   * from a read of their own, so that they neither wait for nor fail with a channel another
   * attach is starting, and the session's heads are read once every state has started.
   */
  private async join(session: Session): Promise<ChannelHead[]> {
    const channels = session.channels;
    const created: ChannelState[] = [];
    /** Index in `channels` of each created state. */
    const createdAt: number[] = [];
    const starting: Promise<void>[] = [];
    channels.forEach((channel, index) => {
      let state = this.channels.get(channel);
      if (!state) {
        state = new ChannelState(channel, this);
        this.channels.set(channel, state);
        created.push(state);
        createdAt.push(index);
      } else if (!state.started) starting.push(state.ready);
      state.subscribe(session, index);
    });
    if (created.length === 0) {
      await Promise.all(starting);
      return this.store.ensureChannels(channels);
    }
    const shared = starting.length === 0;
    const heads = (async () => {
      await Promise.all(created.map((state) => this.broker.subscribe(state.name)));
      return this.store.ensureChannels(shared ? channels : created.map((state) => state.name));
    })();
    created.forEach((state, i) => {
      const at = shared ? (createdAt[i] ?? 0) : i;
      state.ready = heads.then((h) => state.start(h[at]?.seq ?? 0));
      state.ready.catch(() => {
        if (this.channels.get(state.name) === state && state.subscribers.size === 0) {
          this.channels.delete(state.name);
        }
      });
    });
    await Promise.all([...created.map((state) => state.ready), ...starting]);
    return shared ? heads : this.store.ensureChannels(channels);
  }

  private release(channel: string, session: Session): void {
    const state = this.channels.get(channel);
    if (!state) return;
    // O(1) per channel: a mass reconnect on a big channel must not cost O(n^2).
    state.subscribers.delete(session);
    if (state.subscribers.size === 0) {
      this.channels.delete(channel);
      this.broker.unsubscribe(channel).catch((err: unknown) => {
        this.log.warn({ err, channel }, 'broker unsubscribe failed');
      });
    }
  }

  /** Removes a session from every channel; safe to call more than once. */
  detach(session: Session): void {
    if (this.sessions.delete(session) && session.userId !== undefined) {
      const n = (this.users.get(session.userId) ?? 1) - 1;
      if (n > 0) this.users.set(session.userId, n);
      else this.users.delete(session.userId);
    }
    for (const channel of session.channels) this.release(channel, session);
    this.stats.connections = this.sessions.size;
  }

  /**
   * A poll (`GET /poll`): the same join, positions and replay as `attach`, into a session
   * that collects what it is given. Replays at most `maxEvents`; when that was the whole
   * backlog the session goes live and collects live events until the route closes it.
   * Returns false when the bound cut the backlog short (the session stays off live, as a
   * stream closes then: a live event would move its position past the unread ones).
   */
  async poll(session: PollSession, cursor: string | undefined): Promise<boolean> {
    this.register(session);
    try {
      const heads = await this.join(session);
      session.tags = this.tagSession(session, heads);
      if (session.isClosed) {
        this.detach(session);
        return true;
      }
      session.resets = this.counted(this.startPositions(session, heads, session.tags, cursor));
      session.positioned = true;
      const complete = await this.replay(session, heads, { events: 0 }, session.maxEvents);
      if (complete && !session.isClosed) session.goLive();
      return complete;
    } catch (err) {
      this.detach(session);
      throw err;
    }
  }

  private register(session: Session): void {
    this.sessions.add(session);
    if (session.userId !== undefined) {
      this.users.set(session.userId, (this.users.get(session.userId) ?? 0) + 1);
    }
    this.stats.connections = this.sessions.size;
  }

  /** Counts resets about to be sent (stats and metrics); returns them. */
  private counted(resets: Reset[]): Reset[] {
    for (const r of resets) {
      this.stats.resets++;
      this.metrics.resetSent(r.reason);
    }
    return resets;
  }

  /** Sets the session's tag from its heads; returns each channel's own tag. */
  private tagSession(session: Session, heads: readonly ChannelHead[]): string[] {
    session.tag = channelSetTag(
      session.channels,
      heads.map((h) => h.epoch),
    );
    // A channel alone has the tag of its set: no second hash for single-channel streams.
    if (heads.length === 1) return [session.tag];
    return heads.map((h) => channelTag(h.channel, h.epoch));
  }

  /**
   * Attaches a session: subscribe live (events are held by the session), read heads, send
   * the preamble, replay history after the cursor, then go live. Rejects if the store or
   * broker is unreachable before anything was written.
   */
  async attach(session: Session, options: AttachOptions): Promise<void> {
    this.register(session);
    const channels = session.channels;
    try {
      const heads = await this.join(session);
      const tags = this.tagSession(session, heads);
      if (session.isClosed) return this.detach(session);
      const { durable, streams } = splitStreamCursor(options.cursor);
      const resets = this.startPositions(session, heads, tags, durable);
      if (this.options.streams) {
        channels.forEach((c, i) => isStreamChannel(c) && session.setStream(i, streams.get(c)));
      }

      session.open();
      session.writeComment(`herald stream ${session.id}`);
      if (options.preamble) await options.preamble(session);
      else {
        session.writeControl(
          'connected',
          {
            connectionId: session.id,
            channels,
            cursors: channelCursors(channels, tags, session.positions),
            serverTime: new Date().toISOString(),
          },
          true,
        );
      }
      session.writeRetry(options.retryMs);
      for (const r of this.counted(resets)) session.writeControl('reset', r, false);
      const progress = { events: 0 };
      const complete = await this.replay(session, heads, progress);
      if (options.cursor) this.metrics.replayed(progress.events);
      if (complete && !session.isClosed) await this.options.streams?.catchUp(session);
      if (session.isClosed) return;
      if (!complete) {
        // Bounded replay: the client reconnects (after `retry`) and resumes from here.
        session.close('replay-continues');
        return;
      }
      session.goLive();
    } catch (err) {
      this.detach(session);
      throw err;
    }
  }

  /**
   * Sets the session's positions from the resume cursor, composite or per channel (see
   * cursor.ts), and returns the resets to send. `tags` are the channels' own tags.
   * A per-channel cursor positions each channel it lists on its own: a channel it does not
   * list starts at the current end (no reset), a listed one whose tag is not the channel's
   * gets `cursor-mismatch`, and entries for other channels are ignored.
   */
  private startPositions(
    session: Session,
    heads: readonly ChannelHead[],
    tags: readonly string[],
    raw: string | undefined,
  ): Reset[] {
    const resets: Reset[] = [];
    const fromHeads = () => heads.forEach((h, i) => (session.positions[i] = h.seq));
    if (raw === undefined || raw === '') {
      fromHeads();
      return resets;
    }
    const max = this.options.maxCursorLength;
    const perChannel = isPerChannelCursor(raw) ? parsePerChannelCursor(raw, max) : undefined;
    const cursor = perChannel === undefined ? parseCursor(raw, heads.length, max) : null;
    if (!perChannel && !cursor) {
      fromHeads();
      resets.push({ reason: 'invalid-cursor', channels: [...session.channels] });
      return resets;
    }
    if (cursor && cursor.tag !== session.tag) {
      fromHeads();
      resets.push({ reason: 'cursor-mismatch', channels: [...session.channels] });
      return resets;
    }
    const mismatch: string[] = [];
    const expired: string[] = [];
    const unknown: string[] = [];
    heads.forEach((h, i) => {
      let pos: number;
      if (cursor) pos = cursor.seqs[i] ?? 0;
      else {
        const own = perChannel?.get(h.channel);
        if (!own || own.tag !== tags[i]) {
          if (own) mismatch.push(h.channel);
          session.positions[i] = h.seq;
          return;
        }
        pos = own.seqs[0] ?? 0;
      }
      if (pos > h.seq) {
        unknown.push(h.channel);
        session.positions[i] = h.seq;
      } else if (pos < h.trimmedSeq) {
        expired.push(h.channel);
        session.positions[i] = h.trimmedSeq;
      } else {
        session.positions[i] = pos;
      }
    });
    if (mismatch.length > 0) resets.push({ reason: 'cursor-mismatch', channels: mismatch });
    if (expired.length > 0) resets.push({ reason: 'expired', channels: expired });
    if (unknown.length > 0) resets.push({ reason: 'invalid-cursor', channels: unknown });
    return resets;
  }

  /**
   * Replays history after the session's positions; false when the bound cut it short. A
   * channel whose position is its head (read once the session was subscribed live) has
   * nothing stored to replay: what comes after the head reaches the session live. So a new
   * stream, or one whose cursor is up to date, costs no read.
   */
  private async replay(
    session: Session,
    heads: readonly ChannelHead[],
    progress: { events: number },
    max = this.options.replayMax,
  ): Promise<boolean> {
    let budget = max;
    const page = this.options.replayPageSize;
    for (let index = 0; index < session.channels.length; index++) {
      const channel = session.channels[index] ?? '';
      if ((session.positions[index] ?? 0) >= (heads[index]?.seq ?? Infinity)) continue;
      // The frame cache pays only when other streams of the node replay the same rows: on a
      // channel with one subscriber (a user's own, in a reconnect storm) every row is framed
      // once anyway, and the lookup, the key and the eviction were 4 % of a resume's CPU.
      const shared = (this.channels.get(channel)?.subscribers.size ?? 0) > 1;
      for (;;) {
        const limit = Math.min(page, budget);
        if (limit === 0) {
          const more = await this.store.readAfter(channel, session.positions[index] ?? 0, 1);
          if (more.length > 0) return false;
          break;
        }
        const rows = await this.sharedReads.readAfter(
          channel,
          session.positions[index] ?? 0,
          limit,
          this.channels.get(channel)?.lastSeq,
        );
        for (const row of rows) {
          if (row.type === AI_COMPLETE && this.options.streams && session.streamAt(index)) {
            await this.options.streams.beforeComplete(session, index, row);
          }
          const frame = shared
            ? this.replayFrames.frameOf(row)
            : new Frame(row.type, row.data, row.channel);
          session.sendDurable(index, row, frame);
          // Replay is paced by the socket, so it never trips the slow-consumer budget.
          if (session.needsDrain) await session.drained();
          if (session.isClosed) return true;
        }
        this.stats.replayed += rows.length;
        progress.events += rows.length;
        budget -= rows.length;
        if (rows.length < limit) break;
      }
    }
    return true;
  }

  /** Ends every stream at once with a shutdown event and a retry hint. */
  closeAll(retryMs: number): void {
    if (this.republishTimer) clearInterval(this.republishTimer);
    this.republishTimer = undefined;
    for (const session of [...this.sessions]) this.shutdown(session, retryMs);
  }

  /**
   * Ends every stream for a rolling restart (SIGTERM): each gets a shutdown event and a retry
   * hint, and the closes are spread evenly over `windowMs`. Closing 50,000 streams at once
   * would send 50,000 reconnects, each with a replay query, to the other nodes and the
   * database in the same second; spread over the window they arrive as a steady trickle.
   * One timer paces the whole drain (no timer per stream). Streams that attach meanwhile
   * (a request already past the draining check) are closed at the end. Live delivery goes on
   * for the streams still open. Held polls are answered at once. Resolves once every stream
   * is closed.
   */
  async drain(windowMs: number, retryMs: number): Promise<void> {
    // A held poll is answered at once: its client polls again (elsewhere) from the answer's
    // cursor, and holding it would only keep the request open for nothing.
    for (const session of this.sessions)
      if (session instanceof PollSession) this.shutdown(session, retryMs);
    const queue = [...this.sessions];
    const total = queue.length;
    if (windowMs > 0 && total > 1) {
      const started = Date.now();
      // Stream i closes at windowMs * i / total: the first at once, the last one step before
      // the window ends. Ticks of 10-100 ms keep the pacing smooth without a busy loop.
      const tick = Math.min(100, Math.max(10, windowMs / total));
      let next = 0;
      while (next < total) {
        const due = Math.min(total, Math.floor(((Date.now() - started) * total) / windowMs) + 1);
        for (; next < due; next++) {
          const session = queue[next];
          if (session && !session.isClosed) this.shutdown(session, retryMs);
        }
        if (next < total) await new Promise((resolve) => setTimeout(resolve, tick));
      }
    }
    this.closeAll(retryMs);
  }

  private shutdown(session: Session, retryMs: number): void {
    if (session.isClosed) return;
    // A stream still setting up has not sent its head yet: send it, so the client sees a
    // well-formed event stream and retries, instead of an answer EventSource rejects.
    if (!session.isOpen) session.open();
    session.writeControl('shutdown', { reason: 'server-shutdown', retryMs }, false);
    session.writeRetry(retryMs);
    session.close('shutdown');
  }
}
