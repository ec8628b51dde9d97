import {
  Counter,
  Gauge,
  Histogram,
  type Metric,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';
import { FixedCounter, FixedHistogram } from './fixed-series.js';

/**
 * Herald's Prometheus metrics, one `Metrics` (and one Registry) per server, so several
 * servers in one process (the tests) never share or double-count a series.
 *
 * Labels are low-cardinality by construction: every label value comes from a fixed list in
 * this file or from an error code / close reason, never from a user id, channel name or a
 * publisher's free-form event type. A label per user would turn one scrape into millions
 * of series and take Prometheus down with the hub.
 *
 * Hot-path cost: the hub calls `eventsDelivered` once per event per node with the number of
 * local subscribers (one counter increment and one histogram observation, never one per
 * subscriber), and the per-event families use fixed-series collectors that count by array
 * index instead of hashing labels (see fixed-series.ts). Gauges are computed when
 * Prometheus scrapes, from the hub's own state.
 */

/**
 * The (kind, durable) series, in the order `eventSeries` indexes them. `kind` is the event
 * type when it is one of the two Herald itself names, `other` for every publisher-chosen
 * type: the type is free-form text and must never become a label value.
 */
const EVENT_SERIES = (['notification', 'message', 'other'] as const).flatMap((kind) =>
  (['true', 'false'] as const).map((durable) => ({ kind, durable })),
);

function eventSeries(type: string, durable: boolean): number {
  const kind = type === 'notification' ? 0 : type === 'message' ? 1 : 2;
  return kind * 2 + (durable ? 0 : 1);
}

const STORE_OPS = [
  'init',
  'ensureChannels',
  'append',
  'readAfter',
  'trim',
  'ping',
  'close',
] as const;
const BROKER_OPS = ['start', 'subscribe', 'unsubscribe', 'publish', 'ping', 'close'] as const;
/** Store operations, the `op` label of the store metrics. */
export type StoreOp = (typeof STORE_OPS)[number];
/** Broker operations, the `op` label of the broker metrics. */
export type BrokerOp = (typeof BROKER_OPS)[number];
const STORE_OP_INDEX = Object.fromEntries(STORE_OPS.map((op, i) => [op, i])) as Record<
  StoreOp,
  number
>;
const BROKER_OP_INDEX = Object.fromEntries(BROKER_OPS.map((op, i) => [op, i])) as Record<
  BrokerOp,
  number
>;

/** What the gauges read at scrape time. */
export interface MetricsSource {
  /** Open SSE connections on this node. */
  connections(): number;
  /** Distinct user ids with at least one open stream on this node. */
  users(): number;
  /** Channels with at least one local subscriber. */
  channels(): number;
  /** True while the node drains (SIGTERM). */
  draining(): boolean;
  /** AI answers being produced on this node now, and tokens they published (docs/streams.md). */
  aiStreams?(): number;
  aiTokens?(): number;
  /** Cumulative tallies the hub keeps as plain numbers (cheaper than a counter call). */
  totals(): {
    readonly replayed: number;
    readonly slowConsumers: number;
    readonly backfills: number;
  };
}

/**
 * Process-wide metrics (CPU, memory, event-loop lag, GC, file descriptors) describe the
 * process, not a server, and prom-client's collectors start timers and observers that are
 * never stopped. So they are created once per process and every server's registry refers
 * to the same collectors.
 */
let processRegistry: Registry | undefined;

function processMetrics(): Metric[] {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry.getMetricsAsArray() as unknown as Metric[];
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const OPERATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
const REPLAY_BUCKETS = [0, 1, 10, 50, 100, 500, 1000, 5000, 10000];

/**
 * A counter whose value the hub keeps as a plain number: at scrape time it is raised by
 * whatever the number grew since the last scrape.
 */
function tallyCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let seen = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}

/** A metric in the admin API: a plain number, or one value per label set. */
export type MetricSummary = number | { labels: Record<string, string>; value: number }[];

/** Process metrics worth showing in the admin API beside Herald's own. */
const PROCESS_SUMMARY = new Set([
  'process_resident_memory_bytes',
  'process_open_fds',
  'process_max_fds',
  'nodejs_heap_size_used_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_max_seconds',
]);

export class Metrics {
  readonly registry = new Registry();
  readonly startedAt = Date.now();
  private source: MetricsSource | undefined;
  private readonly backends = { store: true, broker: true };

  private readonly published: FixedCounter;
  private readonly delivered: FixedCounter;
  private readonly latency: FixedHistogram;
  private readonly replaySize: Histogram;
  private readonly resets: Counter<'reason'>;
  private readonly opened: Counter;
  private readonly disconnects: Counter<'reason'>;
  private readonly heartbeats: Counter;
  private readonly authFailures: Counter<'reason'>;
  private readonly rateLimits: Counter<'limit'>;
  private readonly storeSeconds: FixedHistogram;
  private readonly storeErrors: FixedCounter;
  private readonly brokerSeconds: FixedHistogram;
  private readonly brokerErrors: Counter<'op'>;
  private readonly brokerReconnects: Counter;
  private readonly up: Gauge<'backend'>;

  constructor() {
    const registers = [this.registry];
    for (const metric of processMetrics()) this.registry.registerMetric(metric);

    // Gauges and tallies read the hub when Prometheus scrapes (0 until `watch` is called).
    const read = (f: (s: MetricsSource) => number) => (this.source ? f(this.source) : 0);
    const reader = (f: (s: MetricsSource) => number) => () => read(f);
    new Gauge({
      name: 'herald_connections',
      help: 'Open SSE connections (and held polls) on this node.',
      registers,
      collect() {
        this.set(read((s) => s.connections()));
      },
    });
    new Gauge({
      name: 'herald_connected_users',
      help: 'Distinct user ids with at least one open stream on this node.',
      registers,
      collect() {
        this.set(read((s) => s.users()));
      },
    });
    new Gauge({
      name: 'herald_channels',
      help: 'Channels with at least one subscriber on this node.',
      registers,
      collect() {
        this.set(read((s) => s.channels()));
      },
    });
    new Gauge({
      name: 'herald_ai_streams',
      help: 'AI answers on ai: channels being produced on this node (POST /streams open).',
      registers,
      collect() {
        this.set(read((s) => s.aiStreams?.() ?? 0));
      },
    });
    tallyCounter(
      this.registry,
      'herald_ai_tokens_total',
      'Tokens of AI answers published on this node (rate() gives tokens/s).',
      reader((s) => s.aiTokens?.() ?? 0),
    );
    new Gauge({
      name: 'herald_draining',
      help: '1 while the node drains after SIGTERM (and /readyz answers 503), else 0.',
      registers,
      collect() {
        this.set(read((s) => (s.draining() ? 1 : 0)));
      },
    });
    this.opened = new Counter({
      name: 'herald_connections_opened_total',
      help: 'SSE connections accepted (authenticated and authorised).',
      registers,
    });
    this.disconnects = new Counter({
      name: 'herald_disconnects_total',
      help: 'SSE connections and polls closed, by reason (client-closed, slow-consumer, token-expired, shutdown, replay-continues, poll-answered, error).',
      labelNames: ['reason'],
      registers,
    });
    const fixed = <T extends FixedCounter | FixedHistogram>(metric: T): T => {
      this.registry.registerMetric(metric as unknown as Metric);
      return metric;
    };
    this.published = fixed(
      new FixedCounter(
        'herald_events_published_total',
        'Events accepted for publication on this node, by kind and durability.',
        EVENT_SERIES,
      ),
    );
    this.delivered = fixed(
      new FixedCounter(
        'herald_events_delivered_total',
        'Live events handed to local subscribers (one per subscriber), by kind and durability.',
        EVENT_SERIES,
      ),
    );
    this.latency = fixed(
      new FixedHistogram(
        'herald_publish_to_deliver_seconds',
        'Time from publication (on the publishing node) to the write to local subscribers, once per event per node.',
        LATENCY_BUCKETS,
        [{ durable: 'true' }, { durable: 'false' }],
      ),
    );
    tallyCounter(
      this.registry,
      'herald_events_replayed_total',
      'Stored events replayed to resuming clients.',
      reader((s) => s.totals().replayed),
    );
    this.replaySize = new Histogram({
      name: 'herald_replay_size_events',
      help: 'Events replayed per resuming connection (connections that sent a cursor).',
      buckets: REPLAY_BUCKETS,
      registers,
    });
    this.resets = new Counter({
      name: 'herald_resets_total',
      help: 'reset events sent, by reason (invalid-cursor, cursor-mismatch, expired, stream-gone).',
      labelNames: ['reason'],
      registers,
    });
    tallyCounter(
      this.registry,
      'herald_slow_consumers_total',
      'Connections cut because the client fell further behind than sendBufferBytes.',
      reader((s) => s.totals().slowConsumers),
    );
    this.heartbeats = new Counter({
      name: 'herald_heartbeats_total',
      help: 'Heartbeat comments written (one per connection per heartbeat).',
      registers,
    });
    this.authFailures = new Counter({
      name: 'herald_auth_failures_total',
      help: 'Requests refused with 401 or 403, by error code.',
      labelNames: ['reason'],
      registers,
    });
    this.rateLimits = new Counter({
      name: 'herald_rate_limited_total',
      help: 'Requests refused by a rate limit, by the name of the limit.',
      labelNames: ['limit'],
      registers,
    });
    const storeOps = STORE_OPS.map((op) => ({ op }));
    this.storeSeconds = fixed(
      new FixedHistogram(
        'herald_store_operation_seconds',
        'Duration of store operations, by operation.',
        OPERATION_BUCKETS,
        storeOps,
      ),
    );
    this.storeErrors = fixed(
      new FixedCounter(
        'herald_store_errors_total',
        'Store operations that failed, by operation.',
        storeOps,
      ),
    );
    this.brokerSeconds = fixed(
      new FixedHistogram(
        'herald_broker_operation_seconds',
        'Duration of broker operations, by operation.',
        OPERATION_BUCKETS,
        BROKER_OPS.map((op) => ({ op })),
      ),
    );
    this.brokerErrors = new Counter({
      name: 'herald_broker_errors_total',
      help: 'Broker operations (and broker connection errors, op="connection") that failed.',
      labelNames: ['op'],
      registers,
    });
    this.brokerReconnects = new Counter({
      name: 'herald_broker_reconnects_total',
      help: 'Times the broker connection came back after an outage (each triggers backfills).',
      registers,
    });
    tallyCounter(
      this.registry,
      'herald_backfills_total',
      'Channel backfills from the store (after a gap in the broker stream or a broker reconnect).',
      reader((s) => s.totals().backfills),
    );
    this.up = new Gauge({
      name: 'herald_backend_up',
      help: '1 when the last operation on the backend (store or broker) succeeded, 0 while it fails.',
      labelNames: ['backend'],
      registers,
    });
    this.up.set({ backend: 'store' }, 1);
    this.up.set({ backend: 'broker' }, 1);
    // Series with fixed label values exist from the start, so a dashboard shows 0, not "no data".
    for (const reason of ['invalid-cursor', 'cursor-mismatch', 'expired', 'stream-gone']) {
      this.resets.inc({ reason }, 0);
    }
    for (const reason of [
      'client-closed',
      'slow-consumer',
      'token-expired',
      'shutdown',
      'poll-answered',
      'error',
    ]) {
      this.disconnects.inc({ reason }, 0);
    }
  }

  /** Connects the gauges to the hub and server state they read at scrape time. */
  watch(source: MetricsSource): void {
    this.source = source;
  }

  /** The exposition text for `GET /metrics`. */
  async exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  eventPublished(type: string, durable: boolean): void {
    this.published.inc(eventSeries(type, durable));
  }

  /**
   * One live event was handed to `subscribers` local subscribers. `publishedAt` is the
   * publishing node's clock: across nodes the latency includes clock skew (negative values
   * count as 0).
   */
  eventsDelivered(type: string, durable: boolean, subscribers: number, publishedAt: number): void {
    if (subscribers === 0) return;
    this.delivered.inc(eventSeries(type, durable), subscribers);
    this.latency.observe(durable ? 0 : 1, Math.max(0, Date.now() - publishedAt) / 1000);
  }

  /** A resuming connection (one that sent a cursor) was replayed `events` stored events. */
  replayed(events: number): void {
    this.replaySize.observe(events);
  }

  resetSent(reason: string): void {
    this.resets.inc({ reason });
  }

  connectionOpened(): void {
    this.opened.inc();
  }

  /** `reason` is a Session close reason (a fixed list). */
  connectionClosed(reason: string): void {
    this.disconnects.inc({ reason });
  }

  heartbeatsSent(count: number): void {
    if (count > 0) this.heartbeats.inc(count);
  }

  /** `code` is the HERALD_ERR_* code of the 401/403 answer. */
  authFailure(code: string): void {
    this.authFailures.inc({ reason: code });
  }

  /**
   * Counts a request refused by a rate limit. `limit` names the limit that refused it and
   * must come from a fixed list in the code (e.g. "publish", "connect", "token"), never
   * from the request: no user id, key id, address or channel.
   */
  rateLimited(limit: string): void {
    this.rateLimits.inc({ limit });
  }

  storeOperation(op: StoreOp, seconds: number, failed: boolean): void {
    const i = STORE_OP_INDEX[op];
    this.storeSeconds.observe(i, seconds);
    if (failed) this.storeErrors.inc(i);
  }

  brokerOperation(op: BrokerOp, seconds: number, failed: boolean): void {
    this.brokerSeconds.observe(BROKER_OP_INDEX[op], seconds);
    if (failed) this.brokerErrors.inc({ op });
  }

  /** A broker connection error reported outside any operation (e.g. a dropped socket). */
  brokerConnectionError(): void {
    this.brokerErrors.inc({ op: 'connection' });
  }

  brokerReconnected(): void {
    this.brokerReconnects.inc();
  }

  backendUp(backend: 'store' | 'broker', up: boolean): void {
    this.backends[backend] = up;
    this.up.set({ backend }, up ? 1 : 0);
  }

  /** Whether the last operation on each backend succeeded. */
  backendStatus(): { store: 'up' | 'down'; broker: 'up' | 'down' } {
    return {
      store: this.backends.store ? 'up' : 'down',
      broker: this.backends.broker ? 'up' : 'down',
    };
  }

  /**
   * Every `herald_*` metric (and a few process ones) as JSON for the admin API: counters
   * and gauges as a number (or one entry per label set), histograms as their `_count` and
   * `_sum` (buckets are for Prometheus).
   */
  async summary(): Promise<Record<string, MetricSummary>> {
    const out: Record<string, MetricSummary> = {};
    for (const metric of await this.registry.getMetricsAsJSON()) {
      if (!metric.name.startsWith('herald_') && !PROCESS_SUMMARY.has(metric.name)) continue;
      const byName = new Map<string, { labels: Record<string, string>; value: number }[]>();
      for (const v of metric.values) {
        const name = (v as { metricName?: string }).metricName ?? metric.name;
        if (name.endsWith('_bucket')) continue;
        const labels: Record<string, string> = {};
        for (const [k, l] of Object.entries(v.labels)) labels[k] = String(l);
        const list = byName.get(name) ?? [];
        list.push({ labels, value: v.value });
        byName.set(name, list);
      }
      for (const [name, list] of byName) {
        const only = list[0];
        out[name] =
          list.length === 1 && only && Object.keys(only.labels).length === 0 ? only.value : list;
      }
    }
    return out;
  }
}
