import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';

/** Seeded PRNG so a failing run can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Received {
  channel: string;
  key: string;
}

/** An `eventsource` client that records every `tick` and can be dropped and resumed. */
class Client {
  es: EventSource | undefined;
  lastId: string | undefined;
  readonly got: Received[] = [];
  resets = 0;
  constructor(
    readonly name: string,
    readonly channels: string[],
    private readonly url: string,
    private readonly token: string,
  ) {}

  open(): void {
    const q = new URLSearchParams({ channels: this.channels.join(','), token: this.token });
    if (this.lastId) q.set('lastEventId', this.lastId);
    const es = new EventSource(`${this.url}/events?${q.toString()}`);
    es.addEventListener('tick', (e) => {
      const d = JSON.parse(e.data) as { channel: string; key: string };
      this.got.push({ channel: d.channel, key: d.key });
      this.lastId = e.lastEventId;
    });
    es.addEventListener('connected', (e) => {
      if (e.lastEventId) this.lastId = e.lastEventId;
    });
    es.addEventListener('reset', () => this.resets++);
    this.es = es;
  }

  /** Client-side drop: close and reopen later with ?lastEventId=. */
  drop(): void {
    this.es?.close();
    this.es = undefined;
  }

  close(): void {
    this.drop();
  }
}

/** Asserts each client got exactly the published events of its channels, in per-channel order. */
function assertExact(clients: Client[], published: Map<string, { seq: number; key: string }[]>) {
  for (const c of clients) {
    for (const ch of c.channels) {
      const expected = (published.get(ch) ?? []).sort((a, b) => a.seq - b.seq).map((e) => e.key);
      const got = c.got.filter((g) => g.channel === ch).map((g) => g.key);
      expect(new Set(got).size, `${c.name} duplicates on ${ch}`).toBe(got.length);
      expect(got, `${c.name} on ${ch}`).toEqual(expected);
    }
  }
}

function expectedCount(c: Client, published: Map<string, unknown[]>): number {
  return c.channels.reduce((n, ch) => n + (published.get(ch)?.length ?? 0), 0);
}

async function publishLoop(
  t: TestServer,
  publisher: number,
  count: number,
  channels: string[],
  random: () => number,
  published: Map<string, { seq: number; key: string }[]>,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const channel = channels[Math.floor(random() * channels.length)]!;
    const key = `p${publisher}-${i}`;
    const res = await t.post('/publish', { channel, type: 'tick', data: { channel, key } });
    expect(res.status).toBe(202);
    const seq = res.body.events[0].seq as number;
    const list = published.get(channel) ?? [];
    list.push({ seq, key });
    published.set(channel, list);
  }
}

describe('lossless delivery', () => {
  let servers: TestServer[] = [];
  let clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients) c.close();
    clients = [];
    for (const s of servers) await s.close();
    servers = [];
  });

  it(
    'concurrent publishers, random disconnects (server and client side): every client gets every event once, in order',
    { timeout: 180_000 },
    async () => {
      const t = await startServer({ retryMs: 20 });
      servers.push(t);
      const random = rng(42);
      const channels = ['load:a', 'load:b', 'load:c', 'load:d'];
      for (let i = 0; i < 8; i++) {
        const mine = channels.filter(() => random() < 0.6);
        if (mine.length === 0) mine.push(channels[i % channels.length]!);
        const token = await t.token(`u${i}`, { channels: ['load:*'] });
        const c = new Client(`client${i}`, mine, t.url, token);
        c.open();
        clients.push(c);
      }
      await waitFor(
        () => t.server.hub.sessions.size === clients.length,
        10_000,
        'clients connected',
      );

      const published = new Map<string, { seq: number; key: string }[]>();
      let publishing = true;
      const chaos = (async () => {
        while (publishing) {
          await new Promise((r) => setTimeout(r, 15));
          const c = clients[Math.floor(random() * clients.length)];
          if (!c) break; // the test already failed and cleaned up
          if (random() < 0.5) {
            // Server-side cut: EventSource reconnects by itself with the Last-Event-ID header.
            for (const s of t.server.hub.sessions) if (random() < 0.3) s.close('error');
          } else if (c.es) {
            c.drop();
            setTimeout(() => c.open(), Math.floor(random() * 30));
          }
        }
      })();
      await Promise.all(
        [0, 1, 2, 3].map((p) => publishLoop(t, p, 750, channels, rng(100 + p), published)),
      );
      publishing = false;
      await chaos;
      await new Promise((r) => setTimeout(r, 50));
      for (const c of clients) if (!c.es) c.open();

      const total = [...published.values()].reduce((n, l) => n + l.length, 0);
      expect(total).toBe(3000);
      await waitFor(
        () => clients.every((c) => c.got.length >= expectedCount(c, published)),
        90_000,
        'every client to catch up',
      );
      assertExact(clients, published);
      for (const c of clients) expect(c.resets).toBe(0);
    },
  );

  it('survives a server restart on the same SQLite file', async () => {
    const a = await startServer({ retryMs: 20 }, { keepData: true });
    const { dataDir, port } = a;
    const token = await a.token('alice', { channels: ['r:*'] });
    const live = new Client('live', ['r:1', 'r:2'], a.url, token);
    const away = new Client('away', ['r:1'], a.url, token);
    clients.push(live, away);
    live.open();
    away.open();
    await waitFor(() => a.server.hub.sessions.size === 2);
    const published = new Map<string, { seq: number; key: string }[]>();
    await publishLoop(a, 0, 100, ['r:1', 'r:2'], rng(1), published);
    await waitFor(() => away.got.length === published.get('r:1')!.length);
    away.drop();
    await publishLoop(a, 1, 100, ['r:1', 'r:2'], rng(2), published);
    await a.close();

    const b = await startServer({ retryMs: 20, dataDir, port });
    servers.push(b);
    await publishLoop(b, 2, 100, ['r:1', 'r:2'], rng(3), published);
    away.open();
    await waitFor(
      () => live.got.length === 300 && away.got.length === published.get('r:1')!.length,
      20_000,
      'both clients to catch up after restart',
    );
    assertExact([live, away], published);
  });

  it('bounds replay: a long backlog arrives over several connections, complete and in order', async () => {
    const t = await startServer({ retryMs: 10, replayMax: 50, replayPageSize: 20 });
    servers.push(t);
    const token = await t.token('alice', { channels: ['big'] });
    const c = new Client('c', ['big'], t.url, token);
    clients.push(c);
    c.open();
    await waitFor(() => c.lastId !== undefined);
    c.drop();
    const published = new Map<string, { seq: number; key: string }[]>();
    await publishLoop(t, 0, 175, ['big'], rng(5), published);
    c.open();
    await waitFor(() => c.got.length >= 175, 20_000, 'backlog');
    assertExact([c], published);
  });
});
