import type { BackendHealth } from '../backend-health.js';
import type { Metrics, StoreOp } from '../metrics.js';
import type {
  AppendOptions,
  AtomicWrite,
  ChannelHead,
  EventInput,
  RetentionPolicy,
  Store,
  StoredEvent,
} from './store.js';

/**
 * A Store decorator that times every operation, counts failures, and drives the store's
 * BackendHealth (one log line when an outage starts, one when it ends). It wraps any
 * backend, so SQLite and PostgreSQL are measured the same way without touching either.
 */
export class InstrumentedStore implements Store {
  /** Present when the wrapped backend has it, timed as an append. */
  readonly appendWith?: <T>(write: AtomicWrite<T>) => Promise<{ value: T; stored: StoredEvent[] }>;

  constructor(
    /** The wrapped backend. */
    readonly inner: Store,
    private readonly metrics: Metrics,
    private readonly health: BackendHealth,
  ) {
    if (inner.appendWith) {
      const appendWith = inner.appendWith.bind(inner);
      this.appendWith = (write) => this.run('append', () => appendWith(write));
    }
  }

  private async run<T>(op: StoreOp, call: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    const t0 = performance.now();
    try {
      const result = await call();
      this.metrics.storeOperation(op, (performance.now() - t0) / 1000, false);
      if (op !== 'close') this.health.succeeded(startedAt);
      return result;
    } catch (err) {
      this.metrics.storeOperation(op, (performance.now() - t0) / 1000, true);
      if (op !== 'close') this.health.failed(op, err);
      throw err;
    }
  }

  init(): Promise<void> {
    return this.run('init', () => this.inner.init());
  }

  ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    return this.run('ensureChannels', () => this.inner.ensureChannels(channels));
  }

  append(events: readonly EventInput[], options?: AppendOptions): Promise<StoredEvent[]> {
    return this.run('append', () => this.inner.append(events, options));
  }

  readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    return this.run('readAfter', () => this.inner.readAfter(channel, after, limit));
  }

  trim(policy: RetentionPolicy, now: number): Promise<number> {
    return this.run('trim', () => this.inner.trim(policy, now));
  }

  ping(): Promise<void> {
    return this.run('ping', () => this.inner.ping());
  }

  close(): Promise<void> {
    return this.run('close', () => this.inner.close());
  }
}
