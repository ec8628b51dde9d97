import type { BackendHealth } from '../backend-health.js';
import type { Logger } from '../logger.js';
import type { BrokerOp, Metrics } from '../metrics.js';
import type { Broker, BrokerEvent, BrokerHandlers } from './broker.js';

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

  private async run<T>(op: BrokerOp, call: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    const t0 = performance.now();
    try {
      const result = await call();
      this.metrics.brokerOperation(op, (performance.now() - t0) / 1000, false);
      // An unsubscribe while the connection is down is a local no-op, not a sign of life.
      if (op !== 'close' && op !== 'unsubscribe') this.health.succeeded(startedAt);
      return result;
    } catch (err) {
      this.metrics.brokerOperation(op, (performance.now() - t0) / 1000, true);
      if (op !== 'close') this.health.failed(op, err);
      throw err;
    }
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

  ping(): Promise<void> {
    return this.run('ping', () => this.inner.ping());
  }

  close(): Promise<void> {
    return this.run('close', () => this.inner.close());
  }
}
