import { Redis } from 'ioredis';
import type { Broker, BrokerEvent, BrokerHandlers, BrokerRefusal } from './broker.js';

/**
 * The clustered broker: Redis pub/sub, one subscriber and one publisher connection per node.
 *
 * Redis pub/sub drops whatever is published while a subscriber is disconnected. After every
 * reconnection this broker subscribes again to all its channels and only then calls
 * `onReconnect`, so the hub's backfill from the store starts once live delivery is back and
 * nothing falls between the two.
 */
export interface RedisBrokerOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly url: string;
  /** Prefix of Herald's channel names on Redis, so Herald can share a Redis. Default 'herald:'. */
  readonly prefix?: string;
  /** Client name in CLIENT LIST: `<name>:sub` and `<name>:pub`. Default 'herald'. */
  readonly name?: string;
  /** Longest wait for one Redis command (publish, subscribe, ping), ms. Default 5000. */
  readonly commandTimeoutMs?: number;
  /** Called with connection errors and with undecodable messages (which are dropped). */
  readonly onError?: (err: unknown) => void;
}

/**
 * How often the subscriber connection is pinged. A connection that stalls (the socket open,
 * nothing answering: a partition, a frozen Redis or proxy) raises no error by itself, and
 * live events would stop without anyone knowing. A PING that gets no answer within the
 * command timeout drops the connection instead: it reconnects, resubscribes, and the hub
 * backfills from the store. So a stall is noticed within this plus the command timeout.
 */
export const SUBSCRIBER_PING_MS = 1000;

function isBrokerEvent(v: unknown): v is BrokerEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e['id'] === 'string' &&
    typeof e['channel'] === 'string' &&
    typeof e['type'] === 'string' &&
    typeof e['data'] === 'string' &&
    typeof e['ts'] === 'number' &&
    (e['seq'] === undefined || typeof e['seq'] === 'number')
  );
}

export class RedisBroker implements Broker {
  private readonly sub: Redis;
  private readonly pub: Redis;
  private readonly prefix: string;
  private readonly onError: (err: unknown) => void;
  private handlers: BrokerHandlers | undefined;
  /** Channels (unprefixed) this node wants; what is subscribed again after a reconnection. */
  private readonly channels = new Set<string>();
  private started = false;
  private closing: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(options: RedisBrokerOptions) {
    this.prefix = options.prefix ?? 'herald:';
    this.onError = options.onError ?? (() => {});
    const name = options.name ?? 'herald';
    const common = {
      lazyConnect: true,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      // Fail fast instead of queueing: a command issued while Redis is unreachable rejects
      // at once (the hub answers 503 or logs), and one in flight when the connection drops
      // rejects at the drop instead of being sent again later (at most once, in order).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Detect a silently dead connection (no RST) within minutes rather than hours.
      keepAlive: 10_000,
      // A node that cannot reach Redis at start fails to start (and can exit); once started,
      // it keeps retrying, at most every 2 s, for as long as the outage lasts.
      retryStrategy: (times: number) => (this.started ? Math.min(times * 50, 2000) : null),
    };
    this.sub = new Redis(options.url, {
      connectionName: `${name}:sub`,
      // Resubscribed by hand (see onSubscriberReady) so onReconnect follows the resubscribe.
      autoResubscribe: false,
      ...common,
    });
    this.pub = new Redis(options.url, {
      connectionName: `${name}:pub`,
      // The PUBLISHes of one turn (a batch of 50 user channels is 50) leave in one write.
      enableAutoPipelining: true,
      ...common,
    });
    this.sub.on('error', (err) => this.onError(err));
    this.pub.on('error', (err) => this.onError(err));
    this.sub.on('message', (channel: string, message: string) => this.receive(channel, message));
    this.sub.on('ready', () => this.onSubscriberReady());
  }

  async start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
    try {
      await Promise.all([this.sub.connect(), this.pub.connect()]);
      if (this.sub.status !== 'ready' || this.pub.status !== 'ready') {
        throw new Error('Redis connection dropped while starting');
      }
    } catch (err) {
      // Close the connection that did come up, so a node that failed to start can exit.
      await Promise.all([quit(this.sub), quit(this.pub)]);
      throw err;
    }
    this.started = true;
    this.watchSubscriber();
  }

  /** Pings the subscriber connection every SUBSCRIBER_PING_MS; see there. */
  private watchSubscriber(): void {
    let pinging = false;
    this.watchdog = setInterval(() => {
      if (pinging || this.sub.status !== 'ready') return;
      pinging = true;
      this.sub
        .ping()
        .catch((cause: unknown) => {
          if (this.closing || this.sub.status !== 'ready') return;
          const err = new Error('the Redis subscriber connection stalled: no answer to PING');
          this.onError(Object.assign(err, { code: 'ETIMEDOUT', cause }));
          this.sub.disconnect(true);
        })
        .finally(() => (pinging = false));
    }, SUBSCRIBER_PING_MS);
    this.watchdog.unref();
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    try {
      // SUBSCRIBE, never PSUBSCRIBE: a channel name is user input and must not be a pattern.
      await this.sub.subscribe(this.prefix + channel);
    } catch (err) {
      this.channels.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    // A subscription does not outlive its connection, and a reconnection subscribes only to
    // `channels`: when the connection is down there is nothing left to undo.
    if (this.sub.status !== 'ready') return;
    try {
      await this.sub.unsubscribe(this.prefix + channel);
    } catch (err) {
      if (this.sub.status === 'ready') throw err;
    }
  }

  async publish(event: BrokerEvent): Promise<void> {
    const message = JSON.stringify({
      id: event.id,
      channel: event.channel,
      type: event.type,
      data: event.data,
      ts: event.ts,
      seq: event.seq,
    });
    await this.pub.publish(this.prefix + event.channel, message);
  }

  /** One PUBLISH per event; auto-pipelining sends a request's events in one write. */
  async publishAll(events: readonly BrokerEvent[]): Promise<BrokerRefusal[]> {
    const results = await Promise.allSettled(events.map((e) => this.publish(e)));
    const refused: BrokerRefusal[] = [];
    results.forEach((r, index) => {
      if (r.status === 'rejected') refused.push({ index, reason: r.reason });
    });
    return refused;
  }

  async ping(): Promise<void> {
    if (this.sub.status !== 'ready') throw new Error('Redis subscriber connection is down');
    await this.pub.ping();
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.handlers = undefined;
      this.channels.clear();
      clearInterval(this.watchdog);
      await Promise.all([quit(this.sub), quit(this.pub)]);
    })();
    return this.closing;
  }

  private receive(redisChannel: string, message: string): void {
    if (!redisChannel.startsWith(this.prefix)) return;
    const channel = redisChannel.slice(this.prefix.length);
    // A message already on its way when we unsubscribed is not delivered.
    if (!this.channels.has(channel)) return;
    let event: unknown;
    try {
      event = JSON.parse(message);
    } catch (err) {
      this.onError(err);
      return;
    }
    if (!isBrokerEvent(event) || event.channel !== channel) {
      this.onError(new Error(`dropped a malformed message on Redis channel ${redisChannel}`));
      return;
    }
    this.handlers?.onMessage(event);
  }

  private onSubscriberReady(): void {
    if (!this.started || this.closing) return;
    const keys = [...this.channels].map((c) => this.prefix + c);
    const resubscribed = keys.length > 0 ? this.sub.subscribe(...keys) : Promise.resolve(0);
    resubscribed.then(
      () => this.handlers?.onReconnect(),
      (err: unknown) => {
        this.onError(err);
        // Try again on a fresh connection; its 'ready' repeats the resubscribe.
        if (!this.closing && this.sub.status === 'ready') this.sub.disconnect(true);
      },
    );
  }
}

/** Ends a connection gracefully when it is up, at once otherwise; resolves once it is closed. */
export async function quit(conn: Redis): Promise<void> {
  // 'wait', 'end', and 'reconnecting' (between attempts) have no socket: disconnect() only
  // cancels the retry timer, and no 'end' event would follow.
  const open = conn.status === 'connecting' || conn.status === 'connect' || conn.status === 'ready';
  const ended = open ? new Promise<void>((resolve) => conn.once('end', () => resolve())) : null;
  if (conn.status === 'ready') {
    await conn.quit().catch(() => conn.disconnect());
  } else if (conn.status !== 'end') {
    conn.disconnect();
  }
  if (ended && conn.status !== 'end') await ended;
}
