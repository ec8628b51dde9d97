import type { Broker, BrokerEvent, BrokerHandlers, BrokerRefusal } from './broker.js';

/**
 * The embedded default broker: one process, no network. Delivery is synchronous and never
 * lost, so on a single node no gap ever needs a backfill.
 */
export class MemoryBroker implements Broker {
  private handlers: BrokerHandlers | undefined;
  private readonly channels = new Set<string>();

  async start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
  }

  async publish(event: BrokerEvent): Promise<void> {
    this.deliver(event);
  }

  async publishAll(events: readonly BrokerEvent[]): Promise<BrokerRefusal[]> {
    for (const event of events) this.deliver(event);
    return [];
  }

  private deliver(event: BrokerEvent): void {
    if (this.channels.has(event.channel)) this.handlers?.onMessage(event);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.channels.clear();
    this.handlers = undefined;
  }
}
