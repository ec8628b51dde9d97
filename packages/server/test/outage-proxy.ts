import { type Server, type Socket, connect, createServer } from 'node:net';

const DEFAULT_PORTS: Record<string, number> = {
  'redis:': 6379,
  'postgres:': 5432,
  'postgresql:': 5432,
};

/** A client connection and its connection to the real server. */
interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

/**
 * A TCP proxy in front of a real server (Redis, PostgreSQL) that can cut every connection
 * and refuse new ones, or stall them: an outage for the nodes behind it only, without
 * disturbing the real server or other test files using it. `url` is `target` with the
 * proxy's address.
 *
 * `stall()` is the partition a cut cannot show: every socket stays open and nothing is
 * forwarded either way (the proxy stops reading, so TCP pushes back on both ends), and new
 * connections are accepted and left silent. `restore()` forwards again what was held.
 */
export async function outageProxy(target: string) {
  const parsed = new URL(target);
  const upstreamPort = Number(parsed.port || DEFAULT_PORTS[parsed.protocol] || 0);
  const upstreamHost = parsed.hostname;
  const pairs = new Set<Pair>();
  let state: 'up' | 'cut' | 'stalled' = 'up';
  const flow = ({ client, upstream }: Pair) => {
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    upstream.resume();
  };
  const hold = ({ client, upstream }: Pair) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  const server: Server = createServer((client) => {
    if (state === 'cut') {
      client.destroy();
      return;
    }
    const pair: Pair = { client, upstream: connect(upstreamPort, upstreamHost) };
    const end = () => {
      pair.client.destroy();
      pair.upstream.destroy();
      pairs.delete(pair);
    };
    pairs.add(pair);
    for (const s of [pair.client, pair.upstream]) s.on('error', end).on('close', end);
    if (state === 'up') flow(pair);
    else hold(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: local } = server.address() as { port: number };
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(local);
  const destroyAll = () => {
    for (const p of pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
  };
  return {
    url: url.toString(),
    /** Connections open through the proxy now. */
    get connections(): number {
      return pairs.size;
    },
    cut() {
      state = 'cut';
      destroyAll();
    },
    stall() {
      state = 'stalled';
      for (const p of pairs) hold(p);
    },
    restore() {
      if (state === 'stalled') for (const p of pairs) flow(p);
      state = 'up';
    },
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll();
        server.close(() => resolve());
      }),
  };
}
