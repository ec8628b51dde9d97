import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import type { StoredEvent } from '../src/store/store.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

/** The SQLite store, counting the replay reads asked of it. */
class CountingStore extends SqliteStore {
  reads = 0;

  override readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    this.reads++;
    return super.readAfter(channel, after, limit);
  }
}

/** Everything a stream sent after its `retry:` line, heartbeats left out: its events. */
const afterPreamble = (c: RawSse) =>
  c.raw
    .slice(c.raw.indexOf('\nretry: ') + 1)
    .replace(/^retry: \d+\n\n/, '')
    .replace(/^:[^\n]*\n\n/gm, '');

describe('replay on a stream of its own', () => {
  let t: TestServer | undefined;
  const clients: RawSse[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await t?.close();
    t = undefined;
  });

  async function start(sendBufferBytes?: number) {
    let made: CountingStore | undefined;
    t = await startServer(sendBufferBytes ? { sendBufferBytes } : {}, {
      storeIn: (path) => (made = new CountingStore({ path })),
    });
    const store = made as unknown as CountingStore;
    const token = await t.token('u', { channels: ['user:u'] });
    const open = async (cursor?: string) => {
      const c = await RawSse.open(`${t!.url}/events?channels=user:u`, {
        authorization: `Bearer ${token}`,
        ...(cursor ? { 'last-event-id': cursor } : {}),
      });
      clients.push(c);
      await waitFor(() => c.retry !== undefined, 10_000, 'the stream preamble');
      return c;
    };
    return { t, store, open };
  }

  it('reads nothing from the store when the stream starts at its head', async () => {
    const { t, store, open } = await start();
    for (let i = 0; i < 3; i++) {
      expect((await t.post('/publish', { channel: 'user:u', type: 'n', data: i })).status).toBe(
        202,
      );
    }
    const before = store.reads;
    // No cursor: the stream starts at the head, and a read could only find nothing.
    const fresh = await open();
    const cursor = fresh.lastId ?? '';
    expect(cursor).not.toBe('');
    fresh.close();
    // A cursor that is up to date starts at the head too.
    const current = await open(cursor);
    expect(store.reads).toBe(before);
    current.close();
    // Behind the head, the missed events are read and sent.
    expect((await t.post('/publish', { channel: 'user:u', type: 'n', data: 3 })).status).toBe(202);
    const behind = await open(cursor);
    await waitFor(() => behind.of('n').length === 1, 10_000, 'the missed event');
    expect(behind.of('n').map((e) => e.data)).toEqual(['3']);
    expect(store.reads).toBeGreaterThan(before);
  });

  it('replays many writes worth in order, the same bytes as live, within the send budget', async () => {
    // 600 events of about 3 KB each: 1.8 MB, several times a write and the 256 KiB budget.
    const { t, open } = await start(256 * 1024);
    const live = await open();
    const cursor = live.lastId ?? '';
    const n = 600;
    for (let i = 0; i < n; i += 20) {
      const sent = await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          t.post('/publish', {
            channel: 'user:u',
            type: 'n',
            // Several lines, and characters outside ASCII: the bytes must match exactly.
            data: `é${i + j}\n${'x'.repeat(1500)}\r\n${'ü'.repeat(700)}`,
          }),
        ),
      );
      expect(sent.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 202));
    }
    await waitFor(() => live.of('n').length === n, 20_000, 'every event live');
    live.close();
    await waitFor(() => live.ended);
    const replayed = await open(cursor);
    await waitFor(() => replayed.of('n').length === n, 20_000, 'every event replayed');
    expect(replayed.ended).toBe(false);
    const ids = replayed.of('n').map((e) => e.id);
    expect(new Set(ids).size).toBe(n);
    expect(afterPreamble(replayed)).toBe(afterPreamble(live));
  });
});
