import type { BrokerEvent } from '../broker/broker.js';
import { MemoryRateLimiter } from '../rate-limit/memory.js';
import type { RateRule } from '../rate-limit/rate-limiter.js';
import { MemoryStreamBuffer } from '../streams/memory.js';
import type { StreamBounds, StreamStatus } from '../streams/stream-buffer.js';
import type { CallOp, IpcLink, ToPrimary, ToWorker } from './link.js';

/** One attached worker: its channel and the live channels it subscribed to. */
interface Peer {
  readonly link: IpcLink<ToWorker, ToPrimary>;
  readonly channels: Set<string>;
}

/** A `snapshots` call in progress: the answers still awaited. */
interface Gathering {
  readonly waiting: Set<Peer>;
  readonly values: unknown[];
  readonly done: (values: unknown[]) => void;
}

/** How long the primary waits for each worker's numbers before answering without them. */
const SNAPSHOT_TIMEOUT_MS = 2000;

/**
 * The primary's side of `herald serve --workers N`: what Redis is to a cluster, in one
 * process. It relays live events to the workers subscribed to their channels (in the order
 * it receives them: per publisher, in publish order), counts every worker's rate limits in
 * one `MemoryRateLimiter` (so a limit holds for the machine, not per worker) and holds the
 * AI token buffers in one `MemoryStreamBuffer`, so a producer on one worker and a
 * subscriber on another see the same stream. It keeps no events: the SQLite file does, and
 * a worker that misses a relayed event (restarted, say) backfills from it like any node.
 */
export class WorkerRelay {
  private readonly peers = new Set<Peer>();
  /** Subscribed workers of each channel. */
  private readonly subscribers = new Map<string, Set<Peer>>();
  private readonly rate = new MemoryRateLimiter();
  private readonly streams: MemoryStreamBuffer;
  private readonly gatherings = new Map<number, Gathering>();
  private nextGathering = 1;

  constructor(bounds: StreamBounds) {
    this.streams = new MemoryStreamBuffer(bounds);
  }

  async start(): Promise<void> {
    await this.streams.start((channel, stream) => {
      for (const peer of this.peers) send(peer, { herald: 'cancel', channel, stream });
    });
  }

  /** Serves one worker until the returned function detaches it (the worker exited). */
  attach(link: IpcLink<ToWorker, ToPrimary>): () => void {
    const peer: Peer = { link, channels: new Set() };
    this.peers.add(peer);
    const stop = link.listen((m) => this.receive(peer, m));
    return () => {
      stop();
      if (!this.peers.delete(peer)) return;
      for (const channel of peer.channels) this.drop(peer, channel);
      for (const [id, g] of this.gatherings) if (g.waiting.delete(peer)) this.settle(id, g);
    };
  }

  /** Workers attached now. */
  get size(): number {
    return this.peers.size;
  }

  private receive(peer: Peer, m: ToPrimary): void {
    switch (m.herald) {
      case 'pub':
        return this.relay(m.events);
      case 'call':
        this.answer(peer, m.op, m.args).then(
          (value) => send(peer, { herald: 'ret', id: m.id, ok: true, value: value ?? null }),
          (err: unknown) =>
            send(peer, {
              herald: 'ret',
              id: m.id,
              ok: false,
              error: err instanceof Error ? err.message : String(err),
            }),
        );
        return;
      case 'snapshot': {
        const g = this.gatherings.get(m.id);
        if (g?.waiting.delete(peer)) {
          g.values.push(m.value);
          this.settle(m.id, g);
        }
        return;
      }
    }
  }

  /** One message per subscribed worker, with that worker's events in their order. */
  private relay(events: readonly BrokerEvent[]): void {
    if (events.length === 1) {
      const subs = this.subscribers.get(events[0]!.channel);
      if (subs) for (const peer of subs) send(peer, { herald: 'events', events });
      return;
    }
    const per = new Map<Peer, BrokerEvent[]>();
    for (const event of events) {
      const subs = this.subscribers.get(event.channel);
      if (!subs) continue;
      for (const peer of subs) {
        const list = per.get(peer);
        if (list) list.push(event);
        else per.set(peer, [event]);
      }
    }
    for (const [peer, list] of per) send(peer, { herald: 'events', events: list });
  }

  private async answer(peer: Peer, op: CallOp, args: unknown[]): Promise<unknown> {
    const s = this.streams;
    switch (op) {
      case 'subscribe':
        for (const channel of args as string[]) {
          peer.channels.add(channel);
          let subs = this.subscribers.get(channel);
          if (!subs) this.subscribers.set(channel, (subs = new Set()));
          subs.add(peer);
        }
        return null;
      case 'unsubscribe':
        for (const channel of args as string[]) this.drop(peer, channel);
        return null;
      case 'ping':
        return null;
      case 'rate.hit':
        return this.rate.hitSync(args[0] as RateRule[]);
      case 'streams.begin':
        return s.begin(str(args[0]), str(args[1]), str(args[2]));
      case 'streams.append':
        return s.append(str(args[0]), str(args[1]), args[2] as string[]);
      case 'streams.finish':
        return s.finish(str(args[0]), str(args[1]), args[2] as Exclude<StreamStatus, 'streaming'>);
      case 'streams.latest':
        return s.latest(str(args[0]));
      case 'streams.read':
        return s.read(
          str(args[0]),
          Number(args[1]),
          Number(args[2]),
          args[3] === null || args[3] === undefined ? undefined : str(args[3]),
        );
      case 'streams.cancel':
        return s.cancel(str(args[0]));
      case 'snapshots':
        return this.gather();
    }
  }

  private drop(peer: Peer, channel: string): void {
    peer.channels.delete(channel);
    const subs = this.subscribers.get(channel);
    if (!subs) return;
    subs.delete(peer);
    if (subs.size === 0) this.subscribers.delete(channel);
  }

  /** Every attached worker's snapshot; a worker that does not answer in time is left out. */
  private gather(): Promise<unknown[]> {
    const id = this.nextGathering++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const g = this.gatherings.get(id);
        if (g) {
          this.gatherings.delete(id);
          resolve(g.values);
        }
      }, SNAPSHOT_TIMEOUT_MS);
      const g: Gathering = {
        waiting: new Set(this.peers),
        values: [],
        done: (values) => {
          clearTimeout(timer);
          resolve(values);
        },
      };
      this.gatherings.set(id, g);
      for (const peer of this.peers) {
        if (!send(peer, { herald: 'snapshot?', id })) g.waiting.delete(peer);
      }
      this.settle(id, g);
    });
  }

  private settle(id: number, g: Gathering): void {
    if (g.waiting.size > 0) return;
    this.gatherings.delete(id);
    g.done(g.values);
  }

  async close(): Promise<void> {
    this.peers.clear();
    this.subscribers.clear();
    for (const g of this.gatherings.values()) g.done(g.values);
    this.gatherings.clear();
    await this.rate.close();
    await this.streams.close();
  }
}

function str(v: unknown): string {
  return String(v);
}

/** Sends to a worker; false when it is gone (its exit detaches it soon after). */
function send(peer: Peer, m: ToWorker): boolean {
  try {
    peer.link.send(m);
    return true;
  } catch {
    return false;
  }
}
