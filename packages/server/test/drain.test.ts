import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ChannelHead } from '../src/store/store.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

/** A SQLite store whose `ensureChannels` waits while the gate is shut: a slow store. */
class GatedStore extends SqliteStore {
  private gate: Promise<void> | undefined;
  private openGate: () => void = () => {};
  waiting = 0;

  shut(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  open(): void {
    this.gate = undefined;
    this.openGate();
  }

  override async ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    if (this.gate) {
      this.waiting++;
      await this.gate;
      this.waiting--;
    }
    return super.ensureChannels(channels);
  }
}

describe('drain on SIGTERM (drainWindowMs)', () => {
  let t: TestServer | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await t?.close();
    t = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function streams(n: number, channel = 'user:alice'): Promise<RawSse[]> {
    const token = await t!.token('alice');
    const clients = await Promise.all(
      Array.from({ length: n }, () =>
        RawSse.open(`${t!.url}/events?channels=${channel}`, { authorization: `Bearer ${token}` }),
      ),
    );
    await waitFor(() => clients.every((c) => c.of('connected').length === 1));
    return clients;
  }

  it('closes the streams one by one, spread evenly over the window, each with a shutdown event and a retry hint', async () => {
    t = await startServer({ drainWindowMs: 1000, retryMs: 1234 });
    const clients = await streams(10);
    const ends: number[] = [];
    for (const c of clients) {
      void waitFor(() => c.ended, 5000).then(() => ends.push(Date.now()));
    }
    const t0 = Date.now();
    await t.close();
    const took = Date.now() - t0;
    await waitFor(() => ends.length === clients.length);
    for (const c of clients) {
      expect(c.of('shutdown')).toHaveLength(1);
      expect(c.raw.endsWith('retry: 1234\n\n')).toBe(true);
    }
    // Stream i closes at window * i / n: the first at once, the last after 900 ms.
    ends.sort((a, b) => a - b);
    expect(ends[0]! - t0).toBeLessThan(300);
    expect(ends.at(-1)! - ends[0]!).toBeGreaterThanOrEqual(700);
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(3000);
    expect(t.server.hub.sessions.size).toBe(0);
    t = undefined;
  });

  it('keeps delivering live events to the streams not yet closed', async () => {
    t = await startServer({ drainWindowMs: 1500 });
    const clients = await streams(3);
    const closing = t.close();
    // The first stream closes at once; the other two are still open.
    await waitFor(() => clients.filter((c) => c.ended).length === 1);
    await t.server.hub.publish([
      { channel: 'user:alice', type: 'late', data: '"x"', durable: true },
    ]);
    await closing;
    expect(clients.map((c) => c.of('late').length).sort()).toEqual([0, 1, 1]);
    t = undefined;
  });

  it('closes every stream at once with a window of 0', async () => {
    t = await startServer({ drainWindowMs: 0 });
    const clients = await streams(5);
    const t0 = Date.now();
    await t.close();
    expect(Date.now() - t0).toBeLessThan(3000); // no 1.5 s window: closes at once (loose: busy CI)
    await waitFor(() => clients.every((c) => c.ended && c.of('shutdown').length === 1));
    t = undefined;
  });

  it('neither heartbeats nor the drain write to a stream before its head: a stream set up slowly still gets a well-formed answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-drain-'));
    dirs.push(dir);
    const store = new GatedStore({ path: join(dir, 'herald.db') });
    t = await startServer({ heartbeatMs: 100, drainWindowMs: 500 }, { store });
    const [open] = await streams(1);
    store.shut();
    const token = await t.token('alice');
    const slow = RawSse.open(`${t.url}/events?channels=user:alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => store.waiting === 1);
    // The shared timer visits every stream, the one still setting up included.
    const beats = open!.comments.filter((c) => c === 'hb').length;
    await waitFor(() => open!.comments.filter((c) => c === 'hb').length >= beats + 2);
    store.open();
    const c = await slow;
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await waitFor(() => c.of('connected').length === 1);

    // A stream still setting up when the drain reaches it gets a head, then its shutdown.
    store.shut();
    const late = RawSse.open(`${t.url}/events?channels=user:alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => store.waiting === 1);
    await t.close();
    store.open();
    const l = await late;
    expect(l.status).toBe(200);
    expect(l.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await waitFor(() => l.ended);
    expect(l.of('shutdown')).toHaveLength(1);
    expect(l.of('connected')).toHaveLength(0);
    t = undefined;
  });
});
