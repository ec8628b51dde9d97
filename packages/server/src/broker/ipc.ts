import type { PrimaryLink } from '../workers/primary-link.js';
import type { Broker, BrokerEvent, BrokerHandlers, BrokerRefusal } from './broker.js';

/**
 * The broker of one worker of `herald serve --workers N`: events go to the primary process,
 * which relays them to every worker subscribed to their channels, this one included
 * (`workers/relay.ts`). Node's IPC channel keeps each worker's messages in order and loses
 * none while both ends live, so delivery is in publish order per publisher; between
 * publishers (workers) the hub orders by sequence and backfills a gap from the SQLite file,
 * as it does with Redis. A worker the primary lost is replaced, not reconnected, so
 * `onReconnect` is never called.
 */
export class IpcBroker implements Broker {
  private handlers: BrokerHandlers | undefined;
  private readonly channels = new Set<string>();

  constructor(private readonly primary: PrimaryLink) {}

  async start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
    this.primary.onEvents((events) => {
      const h = this.handlers;
      if (!h) return;
      for (const event of events) if (this.channels.has(event.channel)) h.onMessage(event);
    });
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    await this.primary.call('subscribe', channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    await this.primary.call('unsubscribe', channel);
  }

  async publish(event: BrokerEvent): Promise<void> {
    this.primary.publish([event]);
  }

  async publishAll(events: readonly BrokerEvent[]): Promise<BrokerRefusal[]> {
    try {
      this.primary.publish(events);
      return [];
    } catch (reason) {
      return events.map((_, index) => ({ index, reason }));
    }
  }

  async ping(): Promise<void> {
    await this.primary.call('ping');
  }

  async close(): Promise<void> {
    this.handlers = undefined;
    const channels = [...this.channels];
    this.channels.clear();
    if (channels.length > 0)
      await this.primary.call('unsubscribe', ...channels).catch(() => undefined);
  }
}
