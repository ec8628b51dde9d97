/**
 * The Broker carries live events between nodes. It is not durable: the Store is.
 *
 * Contract (every backend runs `test/broker-contract.ts`):
 * - `subscribe(channel)` resolves once the subscription is active: every message published
 *   on that channel after it resolves is delivered to `onMessage`, once, until `unsubscribe`.
 * - Delivery is at most once and, per channel and per publisher, in publish order. Messages
 *   can be lost (a dropped connection); the hub detects gaps by sequence and backfills
 *   from the Store, and calls `onReconnect` listeners after any outage.
 * - `publish` resolves when the broker accepted the message (not when it was delivered) and
 *   rejects when it cannot be sent; it never resolves for a message it dropped.
 * - Subscriptions are not reference-counted here: the hub subscribes once per channel.
 */

/** A live event as it travels between nodes. `seq` is absent for ephemeral events. */
export interface BrokerEvent {
  readonly id: string;
  readonly channel: string;
  readonly type: string;
  readonly data: string;
  readonly ts: number;
  readonly seq?: number;
}

export interface BrokerHandlers {
  onMessage(event: BrokerEvent): void;
  /** Called after the broker recovered from an outage (messages may have been lost). */
  onReconnect(): void;
}

/** An event of a `publishAll` call that the broker could not send: its index and why. */
export interface BrokerRefusal {
  readonly index: number;
  readonly reason: unknown;
}

export interface Broker {
  start(handlers: BrokerHandlers): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  publish(event: BrokerEvent): Promise<void>;
  /**
   * Publishes `events` in order, each as `publish` would. Resolves with the events it could
   * not send (empty when it accepted them all); never rejects. One call per publish request:
   * the hub's hot path makes no promise per event.
   */
  publishAll(events: readonly BrokerEvent[]): Promise<BrokerRefusal[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
