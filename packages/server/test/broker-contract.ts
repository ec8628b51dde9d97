import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Broker, BrokerEvent, BrokerHandlers } from '../src/broker/broker.js';
import { waitFor } from './helpers.js';

export interface BrokerContractOptions {
  /**
   * Brokers from separate `makeBroker()` calls reach each other, as nodes of one cluster do
   * (a networked backend). The cross-node cases run only then.
   */
  readonly networked: boolean;
}

/** Collects what a broker delivers. */
export class Recorder implements BrokerHandlers {
  readonly messages: BrokerEvent[] = [];
  reconnects = 0;
  onMessage(event: BrokerEvent): void {
    this.messages.push(event);
  }
  onReconnect(): void {
    this.reconnects++;
  }
  on(channel: string): BrokerEvent[] {
    return this.messages.filter((m) => m.channel === channel);
  }
}

/** Open TCP sockets of this process: what a closed broker must give back. */
export function openSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

/**
 * The Broker contract (see src/broker/broker.ts), run by every backend's test file.
 * `makeBroker` returns a new, not yet started broker (a node); brokers of one suite share a
 * namespace, and every test uses channel names of its own.
 */
export function brokerContract(
  name: string,
  makeBroker: () => Broker | Promise<Broker>,
  options: BrokerContractOptions,
): void {
  describe(`Broker contract: ${name}`, () => {
    const open: Broker[] = [];
    let run = 0;

    async function node(): Promise<{ broker: Broker; got: Recorder }> {
      const broker = await makeBroker();
      open.push(broker);
      const got = new Recorder();
      await broker.start(got);
      return { broker, got };
    }

    function channel(label = 'ch'): string {
      return `${label}-${++run}-${randomUUID().slice(0, 8)}`;
    }

    function ev(ch: string, extra: Partial<BrokerEvent> = {}): BrokerEvent {
      return {
        id: randomUUID(),
        channel: ch,
        type: 'test',
        data: '{"x":1}',
        ts: Date.now(),
        ...extra,
      };
    }

    /**
     * Publishes a marker and waits for it: messages from one publisher arrive in order, so
     * once the marker is in, everything that publisher sent before it has arrived too, and
     * anything missing was not delivered (no sleeping to find out).
     */
    async function settle(publisher: Broker, got: Recorder, ch: string): Promise<void> {
      const marker = ev(ch, { type: 'marker' });
      await publisher.publish(marker);
      await waitFor(() => got.messages.some((m) => m.id === marker.id), 10_000, 'marker');
    }

    afterAll(async () => {
      await Promise.allSettled(open.map((b) => b.close()));
    });

    it('delivers what is published after subscribe resolves, once, in publish order', async () => {
      const { broker, got } = await node();
      const ch = channel();
      await broker.subscribe(ch);
      const sent = Array.from({ length: 200 }, (_, i) =>
        // Durable (with seq) and ephemeral (without) events travel alike.
        i % 3 === 0 ? ev(ch, { data: `tick ${i}` }) : ev(ch, { seq: i + 1, data: `{"i":${i}}` }),
      );
      sent.push(ev(ch, { data: 'line one\nline two\r\n🎉 通知 "quoted" \\ done', type: 'multi' }));
      await Promise.all(sent.map((e) => broker.publish(e)));
      await settle(broker, got, ch);
      expect(got.on(ch).slice(0, -1)).toEqual(sent);
      for (const m of got.messages) expect(m.channel).toBe(ch);
    });

    it('publishAll delivers every event in order and refuses none while up', async () => {
      const { broker, got } = await node();
      const [a, b] = [channel('a'), channel('b')];
      await broker.subscribe(a);
      await broker.subscribe(b);
      const sent = Array.from({ length: 60 }, (_, i) =>
        ev(i % 3 === 0 ? b : a, { seq: i + 1, data: `{"i":${i}}` }),
      );
      expect(await broker.publishAll(sent)).toEqual([]);
      expect(await broker.publishAll([])).toEqual([]);
      await settle(broker, got, b);
      await settle(broker, got, a);
      expect(got.on(a).slice(0, -1)).toEqual(sent.filter((e) => e.channel === a));
      expect(got.on(b).slice(0, -1)).toEqual(sent.filter((e) => e.channel === b));
    });

    it('stops delivering after unsubscribe', async () => {
      const { broker, got } = await node();
      const [a, b] = [channel('a'), channel('b')];
      await broker.subscribe(a);
      await broker.subscribe(b);
      const before = ev(a);
      await broker.publish(before);
      await settle(broker, got, b);
      await broker.unsubscribe(a);
      await broker.publish(ev(a, { type: 'after-unsubscribe' }));
      await settle(broker, got, b);
      expect(got.on(a)).toEqual([before]);

      await broker.subscribe(a);
      const again = ev(a);
      await broker.publish(again);
      await settle(broker, got, a);
      expect(got.on(a).slice(0, -1)).toEqual([before, again]);
    });

    it('delivers only subscribed channels, and names are never patterns', async () => {
      const { broker, got } = await node();
      const base = channel('room');
      // Glob characters are ordinary: subscribing to "x*" must not receive "xy".
      const literal = `${base}*`;
      const similar = [`${base}x`, `${base}`, `${base}?`, `${base}[a]`, 'other'];
      await broker.subscribe(literal);
      for (const ch of similar) await broker.publish(ev(ch));
      const wanted = ev(literal);
      await broker.publish(wanted);
      await settle(broker, got, literal);
      expect(got.messages.slice(0, -1)).toEqual([wanted]);
    });

    it('ping resolves while started', async () => {
      const { broker } = await node();
      await broker.ping();
    });

    it('close stops delivery and releases its connections', async () => {
      const baseline = openSockets();
      const broker = await makeBroker();
      const got = new Recorder();
      await broker.start(got);
      const ch = channel();
      await broker.subscribe(ch);
      await settle(broker, got, ch);
      await broker.close();
      await broker.close(); // idempotent
      await waitFor(() => openSockets() <= baseline, 10_000, 'sockets to close');
      // Another node on the same channel: once it has its copy, the closed one would have too.
      const other = await node();
      await other.broker.subscribe(ch);
      await settle(other.broker, other.got, ch);
      expect(got.messages).toHaveLength(1);
    });

    if (!options.networked) return;

    it('two nodes receive each other’s messages, in order per publisher', async () => {
      const a = await node();
      const b = await node();
      const ch = channel();
      await a.broker.subscribe(ch);
      await b.broker.subscribe(ch);
      const fromA = Array.from({ length: 100 }, (_, i) => ev(ch, { seq: i + 1, type: 'a' }));
      const fromB = Array.from({ length: 100 }, () => ev(ch, { type: 'b' }));
      await Promise.all(
        fromA.flatMap((e, i) => [a.broker.publish(e), b.broker.publish(fromB[i]!)]),
      );
      await settle(a.broker, b.got, ch);
      await settle(b.broker, a.got, ch);
      for (const { got } of [a, b]) {
        await waitFor(() => got.on(ch).length >= 202, 10_000, 'both markers');
        expect(got.messages.filter((m) => m.type === 'a')).toEqual(fromA);
        expect(got.messages.filter((m) => m.type === 'b')).toEqual(fromB);
        expect(got.messages).toHaveLength(202);
      }
    });

    it('a node receives only the channels it subscribed to', async () => {
      const a = await node();
      const b = await node();
      const [x, y] = [channel('x'), channel('y')];
      await a.broker.subscribe(x);
      await b.broker.subscribe(y);
      const toY = ev(y);
      const toX = ev(x);
      await a.broker.publish(toY);
      await b.broker.publish(toX);
      await settle(a.broker, b.got, y);
      await settle(b.broker, a.got, x);
      expect(b.got.messages.slice(0, -1)).toEqual([toY]);
      expect(a.got.messages.slice(0, -1)).toEqual([toX]);
    });

    it('subscribe resolves only once the subscription is active on the network', async () => {
      const publisher = await node();
      for (let i = 0; i < 20; i++) {
        const { broker, got } = await node();
        const ch = channel();
        await broker.subscribe(ch);
        // Published from the other node right after subscribe resolved: must arrive.
        const e = ev(ch);
        await publisher.broker.publish(e);
        await waitFor(() => got.messages.length === 1, 10_000, 'first message');
        expect(got.messages).toEqual([e]);
        await broker.close();
      }
    });
  });
}
