import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../src/broker/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { StoredEvent } from '../src/store/store.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

/**
 * A channel's out-of-order durable events (`ChannelState.held` in src/hub/hub.ts): an event
 * that arrives from the broker ahead of its predecessor waits for it, and goes out right
 * after it, in order. Usually a backfill from the store fills such a gap at once; these tests
 * take the store's reads away (an outage), so only the held events can fill it.
 */
class ReadOutageStore extends SqliteStore {
  down = false;
  failedReads = 0;

  override async readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    if (this.down) {
      this.failedReads++;
      throw new Error('store unreachable (test)');
    }
    return super.readAfter(channel, after, limit);
  }
}

/** The sequence of each event of a stream on one channel, read off its cursor. */
const seqs = (c: RawSse, type: string) =>
  c.of(type).map((e) => parseInt(e.id?.split('.').pop() ?? '', 36));

describe('out-of-order durable events from the broker', () => {
  let t: TestServer | undefined;
  const clients: RawSse[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await t?.close();
    t = undefined;
  });

  async function start() {
    let made: ReadOutageStore | undefined;
    const broker = new MemoryBroker();
    t = await startServer(
      {},
      { broker, storeIn: (path) => (made = new ReadOutageStore({ path })) },
    );
    const store = made as unknown as ReadOutageStore;
    const token = await t.token('u', { channels: ['room:*'] });
    const c = await RawSse.open(`${t.url}/events?channels=room:a`, {
      authorization: `Bearer ${token}`,
    });
    clients.push(c);
    await waitFor(() => c.of('connected').length === 1);
    // Seq 1 through the hub, so the channel's position is known.
    expect((await t.post('/publish', { channel: 'room:a', type: 'n', data: 1 })).status).toBe(202);
    await waitFor(() => c.of('n').length === 1);
    return { t, store, broker, c };
  }

  /** A durable event of room:a as another node would send it through the broker. */
  const event = (seq: number) => ({
    id: `ev-${seq}`,
    channel: 'room:a',
    type: 'n',
    data: String(seq),
    ts: Date.now(),
    seq,
  });

  it('holds events ahead of a gap and sends them right after the event that fills it', async () => {
    const { store, broker, c } = await start();
    store.down = true;
    await broker.publish(event(4));
    await broker.publish(event(3));
    // The gap's backfill failed; nothing after seq 1 may go out before seq 2.
    await waitFor(() => store.failedReads > 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seqs(c, 'n')).toEqual([1]);
    await broker.publish(event(2));
    await waitFor(() => c.of('n').length === 4);
    expect(seqs(c, 'n')).toEqual([1, 2, 3, 4]);
    expect(c.of('n').map((e) => e.data)).toEqual(['1', '2', '3', '4']);
    expect(store.down).toBe(true); // delivered without a read from the store
  });

  it('drops a held event that a later one already covered, and delivers each once', async () => {
    const { store, broker, c } = await start();
    store.down = true;
    await broker.publish(event(3));
    await broker.publish(event(3)); // the same event twice (a broker redelivery)
    await broker.publish(event(2));
    await waitFor(() => c.of('n').length >= 3);
    await broker.publish(event(2)); // late duplicate of a delivered event
    await broker.publish(event(4));
    await waitFor(() => c.of('n').length >= 4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seqs(c, 'n')).toEqual([1, 2, 3, 4]);
  });
});
