import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../src/broker/broker.js';
import { RedisBroker, SUBSCRIBER_PING_MS, type RedisBrokerOptions } from '../src/broker/redis.js';
import { brokerContract, openSockets, Recorder } from './broker-contract.js';
import { waitFor } from './helpers.js';
import { outageProxy } from './outage-proxy.js';

const url = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A channel prefix of this run's own, so test files sharing the Redis never see each other. */
const prefix = `herald-test-${randomUUID().slice(0, 8)}:`;

brokerContract('RedisBroker', () => new RedisBroker({ url, prefix }), { networked: true });

function ev(channel: string, extra: Partial<BrokerEvent> = {}): BrokerEvent {
  return { id: randomUUID(), channel, type: 'test', data: '{"x":1}', ts: Date.now(), ...extra };
}

describe('RedisBroker', () => {
  const brokers: RedisBroker[] = [];
  const clients: Redis[] = [];
  const make = (options: Partial<RedisBrokerOptions> = {}) => {
    const b = new RedisBroker({ url, prefix, commandTimeoutMs: 2000, ...options });
    brokers.push(b);
    return b;
  };
  const raw = () => {
    const c = new Redis(url);
    clients.push(c);
    return c;
  };

  afterAll(async () => {
    await Promise.allSettled(brokers.map((b) => b.close()));
    await Promise.allSettled(clients.map((c) => c.quit()));
  });

  it('sends JSON on prefixed Redis channels and receives it from there', async () => {
    const broker = make();
    const got = new Recorder();
    await broker.start(got);
    const ch = `raw-${randomUUID()}`;

    const listener = raw();
    const heard: [string, string][] = [];
    listener.on('message', (c: string, m: string) => heard.push([c, m]));
    await listener.subscribe(prefix + ch);
    const out = ev(ch, { seq: 7 });
    await broker.publish(out);
    await waitFor(() => heard.length === 1, 10_000, 'raw message');
    expect(heard[0]![0]).toBe(prefix + ch);
    expect(JSON.parse(heard[0]![1])).toEqual(out);

    await broker.subscribe(ch);
    const incoming = ev(ch);
    await raw().publish(prefix + ch, JSON.stringify(incoming));
    await waitFor(() => got.messages.length === 1, 10_000, 'message from Redis');
    expect(got.messages).toEqual([incoming]);
  });

  it('drops undecodable messages and reports them, then goes on', async () => {
    const errors: unknown[] = [];
    const broker = make({ onError: (err) => errors.push(err) });
    const got = new Recorder();
    await broker.start(got);
    const ch = `bad-${randomUUID()}`;
    await broker.subscribe(ch);
    const publisher = raw();
    await publisher.publish(prefix + ch, 'not json');
    await publisher.publish(prefix + ch, JSON.stringify({ id: 1, channel: ch }));
    await publisher.publish(prefix + ch, JSON.stringify(ev('another-channel')));
    const good = ev(ch);
    await publisher.publish(prefix + ch, JSON.stringify(good));
    await waitFor(() => got.messages.length === 1, 10_000, 'the good message');
    expect(got.messages).toEqual([good]);
    expect(errors).toHaveLength(3);
  });

  it('resubscribes and calls onReconnect after its subscriber connection is killed', async () => {
    const name = `herald-test-${randomUUID().slice(0, 8)}`;
    const broker = make({ name });
    const got = new Recorder();
    await broker.start(got);
    const publisher = make();
    await publisher.start(new Recorder());
    const [a, b] = [`kill-a-${randomUUID()}`, `kill-b-${randomUUID()}`];
    await broker.subscribe(a);
    await broker.subscribe(b);

    const admin = raw();
    const list = (await admin.client('LIST')) as string;
    const line = list.split('\n').find((l) => l.includes(` name=${name}:sub `));
    const id = line?.match(/^id=(\d+) /)?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);

    await waitFor(() => got.reconnects === 1, 10_000, 'onReconnect');
    // onReconnect comes after the resubscribe: a message published now is delivered.
    const afterA = ev(a);
    const afterB = ev(b);
    await publisher.publish(afterA);
    await publisher.publish(afterB);
    await waitFor(() => got.messages.length === 2, 10_000, 'delivery after reconnect');
    expect(got.messages).toEqual([afterA, afterB]);
    expect(got.reconnects).toBe(1);
  });

  it('fails fast while Redis is unreachable and recovers when it is back', async () => {
    const proxy = await outageProxy(url);
    try {
      const broker = make({ url: proxy.url });
      const got = new Recorder();
      await broker.start(got);
      const ch = `outage-${randomUUID()}`;
      await broker.subscribe(ch);
      const direct = make();
      await direct.start(new Recorder());

      proxy.cut();
      // Once the broker has seen the connection drop, every call rejects at once: nothing
      // waits in a queue for a Redis that may never come back.
      await waitFor(
        () =>
          broker.publish(ev(ch)).then(
            () => false,
            () => true,
          ),
        10_000,
        'publish to fail',
      );
      const t0 = Date.now();
      await expect(broker.publish(ev(ch))).rejects.toThrow();
      // publishAll never rejects: it names every event it could not send.
      const refused = await broker.publishAll([ev(ch), ev(ch)]);
      expect(refused.map((r) => r.index)).toEqual([0, 1]);
      for (const r of refused) expect(r.reason).toBeInstanceOf(Error);
      await expect(broker.ping()).rejects.toThrow();
      await expect(broker.subscribe(`other-${randomUUID()}`)).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(500);
      await broker.unsubscribe(`never-subscribed-${randomUUID()}`);

      // Lost while down: the hub backfills these from the store after onReconnect.
      await direct.publish(ev(ch, { type: 'lost' }));

      proxy.restore();
      await waitFor(() => got.reconnects >= 1, 20_000, 'onReconnect');
      const back = ev(ch);
      await direct.publish(back);
      await waitFor(() => got.messages.length > 0, 10_000, 'delivery after the outage');
      expect(got.messages).toEqual([back]);
      await waitFor(
        () =>
          broker.publish(ev(ch)).then(
            () => true,
            () => false,
          ),
        20_000,
        'publish to work again',
      );
      await broker.ping();
    } finally {
      await proxy.close();
    }
  });

  it('notices a stalled subscriber connection by itself and resumes after it', async () => {
    const proxy = await outageProxy(url);
    try {
      const errors: unknown[] = [];
      const broker = make({
        url: proxy.url,
        commandTimeoutMs: 500,
        onError: (e) => errors.push(e),
      });
      const got = new Recorder();
      await broker.start(got);
      const ch = `stall-${randomUUID()}`;
      await broker.subscribe(ch);
      const direct = make();
      await direct.start(new Recorder());

      // Socket open, nothing answering, and no publish to time out: only the PING finds it.
      proxy.stall();
      await waitFor(
        () => errors.some((e) => /stalled/.test(String(e))),
        SUBSCRIBER_PING_MS + 5000,
        'the stall to be reported',
      );
      expect((errors.find((e) => /stalled/.test(String(e))) as { code?: string }).code).toBe(
        'ETIMEDOUT',
      );
      await expect(broker.ping()).rejects.toThrow();

      proxy.restore();
      await waitFor(() => got.reconnects >= 1, 20_000, 'onReconnect after the stall');
      const back = ev(ch);
      await direct.publish(back);
      await waitFor(() => got.messages.some((m) => m.id === back.id), 10_000, 'live again');
    } finally {
      await proxy.close();
    }
  });

  it('start rejects when Redis is unreachable and leaves nothing open', async () => {
    const baseline = openSockets();
    const proxy = await outageProxy(url);
    proxy.cut();
    const broker = new RedisBroker({ url: proxy.url, prefix });
    await expect(broker.start(new Recorder())).rejects.toThrow();
    await broker.close();
    await proxy.close();
    await waitFor(() => openSockets() <= baseline, 10_000, 'sockets to close');
  });
});
