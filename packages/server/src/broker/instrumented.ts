import type { BackendHealth } from '../backend-health.js';
import type { Logger } from '../logger.js';
import type { BrokerOp, Metrics } from '../metrics.js';
import type { Broker, BrokerEvent, BrokerHandlers, BrokerRefusal } from './broker.js';

/**
 * A Broker decorator that times every operation, counts failures and reconnections, and
 * drives the broker's BackendHealth (one log line when an outage starts, one when it ends).
 * A reconnection (`onReconnect`) ends an outage: the broker has resubscribed, and the hub
 * backfills every channel from the store.
 */
export class InstrumentedBroker implements Broker {
  constructor(
    /** The wrapped backend. */
    readonly inner: Broker,
    private readonly metrics: Metrics,
    private readonly health: BackendHealth,
    private readonly log: Logger,
  ) {}

  /**
   * Times `call` as one `op`. It failed when it rejected, or when `refusal` finds a reason
   * in its result (a `publishAll` that could not send some events).
   */
  private async run<T>(
    op: BrokerOp,
    call: () => Promise<T>,
    refusal?: (result: T) => unknown,
  ): Promise<T> {
    const startedAt = Date.now();
    const t0 = performance.now();
    let result: T;
    try {
      result = await call();
    } catch (err) {
      this.failed(op, t0, err);
      throw err;
    }
    const reason = refusal?.(result);
    if (reason !== undefined) {
      this.failed(op, t0, reason);
      return result;
    }
    this.metrics.brokerOperation(op, (performance.now() - t0) / 1000, false);
    // An unsubscribe while the connection is down is a local no-op, not a sign of life.
    if (op !== 'close' && op !== 'unsubscribe') this.health.succeeded(startedAt);
    return result;
  }

  private failed(op: BrokerOp, t0: number, reason: unknown): void {
    this.metrics.brokerOperation(op, (performance.now() - t0) / 1000, true);
    if (op !== 'close') this.health.failed(op, reason);
  }

  start(handlers: BrokerHandlers): Promise<void> {
    return this.run('start', () =>
      this.inner.start({
        onMessage: (event) => handlers.onMessage(event),
        onReconnect: () => {
          const startedAt = Date.now();
          this.metrics.brokerReconnected();
          this.log.info('broker reconnected; backfilling channels from the store');
          this.health.succeeded(startedAt);
          handlers.onReconnect();
        },
      }),
    );
  }

  subscribe(channel: string): Promise<void> {
    return this.run('subscribe', () => this.inner.subscribe(channel));
  }

  unsubscribe(channel: string): Promise<void> {
    return this.run('unsubscribe', () => this.inner.unsubscribe(channel));
  }

  publish(event: BrokerEvent): Promise<void> {
    return this.run('publish', () => this.inner.publish(event));
  }

  /** Timed as one `publish` operation, failed when any event was refused. */
  publishAll(events: readonly BrokerEvent[]): Promise<BrokerRefusal[]> {
    return this.run(
      'publish',
      () => this.inner.publishAll(events),
      (refused) => refused[0]?.reason,
    );
  }

  ping(): Promise<void> {
    return this.run('ping', () => this.inner.ping());
  }

  close(): Promise<void> {
    return this.run('close', () => this.inner.close());
  }
}
