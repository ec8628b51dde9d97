import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelHead } from '../src/store/store.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

/**
 * A SQLite store that counts head reads and can hold their answers: the next `calls` head
 * reads are read at once but answered late, so events published meanwhile reach a channel
 * that does not know its starting point yet. Later reads (a publish's lookup of the channel
 * tag for its ack) are answered at once.
 */
class SlowHeadsStore extends SqliteStore {
  reads = 0;
  held = 0;
  private gate: Promise<void> | undefined;
  private openGate: () => void = () => {};
  private toHold = 0;

  hold(calls: number): void {
    this.toHold = calls;
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.gate = undefined;
    this.openGate();
  }

  override async ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    this.reads++;
    const heads = await super.ensureChannels(channels);
    const gate = this.toHold > 0 ? this.gate : undefined;
    if (gate) {
      this.toHold--;
      this.held++;
      await gate;
      this.held--;
    }
    return heads;
  }
}

/** Positions by channel from a cursor (`tag.seq.seq...`, channels in sorted order). */
function positions(cursor: string, channels: string[]): Map<string, number> {
  const seqs = cursor.split('.').slice(1);
  return new Map([...channels].sort().map((c, i) => [c, parseInt(seqs[i] ?? '', 36)]));
}

/**
 * The stream's events by channel as sequences, read off the cursor of each event: the
 * position that changed is the event's channel and sequence.
 */
function received(c: RawSse, channels: string[]): Map<string, number[]> {
  const sorted = [...channels].sort();
  const out = new Map<string, number[]>(sorted.map((ch) => [ch, []]));
  let last = positions(c.of('connected')[0]?.id ?? '', channels);
  for (const e of c.of('tick')) {
    const now = positions(e.id ?? '', channels);
    for (const ch of sorted) if (now.get(ch) !== last.get(ch)) out.get(ch)?.push(now.get(ch)!);
    last = now;
  }
  return out;
}

describe('stream setup (Hub.attach)', () => {
  let t: TestServer | undefined;
  let store: SlowHeadsStore | undefined;
  let dir = '';
  const clients: RawSse[] = [];
  afterEach(async () => {
    store?.release();
    for (const c of clients.splice(0)) c.close();
    await t?.close();
    t = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<{ t: TestServer; store: SlowHeadsStore }> {
    dir = mkdtempSync(join(tmpdir(), 'herald-attach-'));
    store = new SlowHeadsStore({ path: join(dir, 'herald.db') });
    t = await startServer({}, { store });
    return { t, store };
  }

  /** Opens a stream; resolves once its head is sent, so after its channel heads were read. */
  async function open(
    server: TestServer,
    user: string,
    channels: string[],
    lastEventId?: string,
  ): Promise<RawSse> {
    const token = await server.token(user, { channels: ['room:*'] });
    const c = await RawSse.open(`${server.url}/events?channels=${channels.join(',')}`, {
      authorization: `Bearer ${token}`,
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    });
    clients.push(c);
    return c;
  }

  async function publish(server: TestServer, channel: string): Promise<number> {
    const res = await server.post('/publish', { channel, type: 'tick', data: { channel } });
    expect(res.status).toBe(202);
    return res.body.events[0].seq as number;
  }

  it('reads the heads once per stream, on new and live channels alike', async () => {
    const { t, store } = await start();
    const reads = store.reads;
    const a = await open(t, 'a', ['room:x']);
    await waitFor(() => a.of('connected').length === 1);
    expect(store.reads - reads).toBe(1);
    const b = await open(t, 'b', ['room:x']);
    await waitFor(() => b.of('connected').length === 1);
    expect(store.reads - reads).toBe(2);
    const c = await open(t, 'c', ['room:x', 'room:y']);
    await waitFor(() => c.of('connected').length === 1);
    expect(store.reads - reads).toBe(3);
  });

  it('delivers every event after a stream’s position when channels start while events are published', async () => {
    const { t, store } = await start();
    store.hold(2);
    // a starts room:x; b finds room:x starting and starts room:y; c finds both starting.
    const opening = [open(t, 'a', ['room:x'])];
    await waitFor(() => store.held === 1);
    opening.push(open(t, 'b', ['room:x', 'room:y']));
    await waitFor(() => store.held === 2);
    opening.push(open(t, 'c', ['room:y']));
    await waitFor(() => t.server.hub.sessions.size === 3);
    const published = new Map<string, number[]>([
      ['room:x', []],
      ['room:y', []],
    ]);
    // Published after the heads were read and before anyone knows them.
    for (let i = 0; i < 3; i++) {
      for (const ch of ['room:x', 'room:y']) published.get(ch)!.push(await publish(t, ch));
    }
    store.release();
    const [a, b, c] = (await Promise.all(opening)) as [RawSse, RawSse, RawSse];
    const streams: [RawSse, string[]][] = [
      [a, ['room:x']],
      [b, ['room:x', 'room:y']],
      [c, ['room:y']],
    ];
    await waitFor(() => streams.every(([s]) => s.of('connected').length === 1));
    for (let i = 0; i < 3; i++) {
      for (const ch of ['room:x', 'room:y']) published.get(ch)!.push(await publish(t, ch));
    }
    for (const [s, channels] of streams) {
      const from = positions(s.of('connected')[0]!.id!, channels);
      const expected = new Map(
        channels.map((ch) => [ch, published.get(ch)!.filter((seq) => seq > from.get(ch)!)]),
      );
      const total = [...expected.values()].reduce((n, l) => n + l.length, 0);
      await waitFor(() => s.of('tick').length >= total, 5000, 'events after the position');
      expect(received(s, channels)).toEqual(expected);
    }
    // a's head was read before the first publish: it got those events too.
    expect(positions(a.of('connected')[0]!.id!, ['room:x']).get('room:x')).toBe(0);
    // Each stream's cursor resumes it: the channel-set tag came from the right heads.
    for (const [i, [s, channels]] of streams.entries()) {
      const again = await open(t, `again${i}`, channels, s.lastId);
      await waitFor(() => again.of('connected').length === 1);
      expect(again.of('reset')).toEqual([]);
      expect(again.of('connected')[0]!.id).toBe(s.lastId);
    }
  });

  it('gives every stream of a concurrent storm each event after its position, once and in order', async () => {
    const { t } = await start();
    const channels = ['room:a', 'room:b', 'room:c', 'room:d'];
    const published = new Map<string, number[]>(channels.map((ch) => [ch, []]));
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing || i < 20; i++) {
        const ch = channels[i % channels.length]!;
        published.get(ch)!.push(await publish(t, ch));
      }
    })();
    // Streams on overlapping sets of new channels, opened together while events flow.
    const sets = Array.from({ length: 24 }, (_, i) =>
      channels.filter((_, j) => ((i + 1) >> j) % 2 === 1 || j === i % 4),
    );
    const streams = await Promise.all(sets.map((set, i) => open(t, `u${i}`, set)));
    await waitFor(() => streams.every((s) => s.of('connected').length === 1), 10_000);
    publishing = false;
    await publisher;
    for (const [i, s] of streams.entries()) {
      const set = sets[i]!;
      const from = positions(s.of('connected')[0]!.id!, set);
      const expected = new Map(
        set.map((ch) => [ch, published.get(ch)!.filter((seq) => seq > from.get(ch)!)]),
      );
      const total = [...expected.values()].reduce((n, l) => n + l.length, 0);
      await waitFor(() => s.of('tick').length >= total, 10_000, `stream ${i} to catch up`);
      expect(received(s, set)).toEqual(expected);
    }
  });
});
