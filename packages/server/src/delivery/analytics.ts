import { Counter as PromCounter, Histogram, type Registry } from 'prom-client';
import type { CountIncrement, Counter, DeliveryStore } from './delivery-store.js';

const HOUR = 3_600_000;
/** Distinct categories kept as metric labels; the rest count as `other` (label cardinality). */
const MAX_LABELS = 100;

/**
 * Delivery analytics as counters, never as scans of the inbox: each event (sent, delivered,
 * seen, read, acked, failed) adds one to an in-memory tally per hour × category × channel,
 * flushed to the store's rollups every few seconds (`addCounts`, an atomic add, so every
 * node adds to the same rows), and to Prometheus counters at once. Time to read is kept as a
 * sum beside the `read` count (mean = sum / count) and as a histogram.
 */
export class DeliveryAnalytics {
  private pending = new Map<string, CountIncrement>();
  private readonly events: PromCounter<'channel' | 'category' | 'counter'>;
  private readonly timeToRead: Histogram<'category'>;
  private readonly labels = new Set<string>();

  constructor(
    private readonly store: DeliveryStore,
    registry: Registry,
  ) {
    this.events = new PromCounter({
      name: 'herald_delivery_events_total',
      help: 'Notification delivery events by channel (in_app, push, email, webhook, digest), category and counter (sent, delivered, seen, read, acked, failed).',
      labelNames: ['channel', 'category', 'counter'],
      registers: [registry],
    });
    this.timeToRead = new Histogram({
      name: 'herald_notification_time_to_read_seconds',
      help: 'Time from a notification being stored to its first read, by category.',
      labelNames: ['category'],
      buckets: [1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600],
      registers: [registry],
    });
  }

  private label(category: string): string {
    if (this.labels.has(category)) return category;
    if (this.labels.size >= MAX_LABELS) return 'other';
    this.labels.add(category);
    return category;
  }

  count(
    category: string | undefined,
    channel: string,
    counter: Counter,
    now: number,
    n = 1,
    sumMs = 0,
  ): void {
    const cat = category ?? '';
    const bucket = Math.floor(now / HOUR) * HOUR;
    const key = `${bucket}\u0000${cat}\u0000${channel}\u0000${counter}`;
    const prev = this.pending.get(key);
    this.pending.set(key, {
      bucket,
      category: cat,
      channel,
      counter,
      count: (prev?.count ?? 0) + n,
      sumMs: (prev?.sumMs ?? 0) + sumMs,
    });
    this.events.inc({ channel, category: this.label(cat), counter }, n);
    if (counter === 'read' && n > 0)
      this.timeToRead.observe({ category: this.label(cat) }, sumMs / n / 1000);
  }

  /** Writes the tallies to the store; on failure they are kept for the next flush. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.store.addCounts([...batch.values()]);
    } catch (err) {
      for (const [k, v] of batch) {
        const cur = this.pending.get(k);
        this.pending.set(
          k,
          cur
            ? Object.assign({}, v, { count: v.count + cur.count, sumMs: v.sumMs + cur.sumMs })
            : v,
        );
      }
      throw err;
    }
  }
}
