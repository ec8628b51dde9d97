import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../src/auth/tokens.js';
import { spawnHerald, waitFor } from './helpers.js';
import { RawStreamProducer, range, words } from './stream-helpers.js';

/**
 * `herald serve --workers 2`: real processes (a primary and two workers on one port), one
 * real SQLite file, real `eventsource` clients. Node's cluster hands connections to the
 * workers in turn, and every answer names its worker (`herald-worker`), so each test makes
 * sure it used both and counts every event.
 */

const SECRET = 'workers-test-secret-0123456789abcdef';
const KEY = 'workers-test-api-key-0123456789';
const tokens = new TokenService({ secret: SECRET, issuer: '', audience: '', apiKeys: [] });
const dirs: string[] = [];

interface Herald {
  child: ChildProcess;
  url: string;
  out: () => string;
  stop(): Promise<number | null>;
}

async function serveWorkers(extra: string[] = []): Promise<Herald> {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-workers-'));
  dirs.push(dataDir);
  const { child, url, out } = await spawnHerald(
    ['--workers', '2', '--data-dir', dataDir, '--drain-window-ms', '0', ...extra],
    { HERALD_API_KEYS: KEY, HERALD_JWT_SECRET: SECRET },
  );
  // The primary says so once both workers listen.
  await waitFor(() => out().includes('(2 workers)'), 20_000, 'both workers to listen');
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    url,
    out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

interface Answer {
  status: number;
  worker: number;
  body: any;
}

/** One request on a connection of its own, so that cluster picks the worker afresh. */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          worker: Number(res.headers['herald-worker'] ?? -1),
          body: text ? JSON.parse(text) : undefined,
        }),
      );
    });
    req.on('error', reject);
    if (body !== undefined) {
      req.setHeader('content-type', 'application/json');
      req.end(JSON.stringify(body));
    } else req.end();
  });
}

const asKey = { 'x-herald-key': KEY };

/** Publishes with an Idempotency-Key, retried (same key) until stored: a worker may die. */
async function publishOnce(url: string, channel: string, n: number): Promise<Answer> {
  const key = randomUUID();
  for (;;) {
    try {
      const a = await send(
        url,
        'POST',
        '/publish',
        { ...asKey, 'idempotency-key': key },
        { channel, type: 'tick', data: { n, channel } },
      );
      if (a.status === 202) return a;
    } catch {
      // the worker went away mid-request: the same key again, on whichever worker is there
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * An `eventsource` subscriber recording `tick`s; it knows the worker of each connection.
 * Made `after` another one, it resumes from that one's last event id and continues its
 * record, so the two together must hold every event once.
 */
class Subscriber {
  readonly es: EventSource;
  readonly got: { channel: string; n: number; id: string }[];
  readonly workers: number[] = [];
  opens = 0;
  resets = 0;
  shutdowns = 0;

  constructor(url: string, channels: string[], token: string, after?: Subscriber) {
    this.got = after ? [...after.got] : [];
    const q = new URLSearchParams({ channels: channels.join(','), token });
    const last = after?.got.at(-1)?.id;
    if (last) q.set('lastEventId', last);
    this.es = new EventSource(`${url}/events?${q.toString()}`, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        this.workers.push(Number(res.headers.get('herald-worker') ?? -1));
        return res;
      },
    });
    this.es.addEventListener('tick', (e) => {
      const d = JSON.parse(e.data) as { n: number; channel: string };
      this.got.push({ channel: d.channel, n: d.n, id: e.lastEventId });
    });
    this.es.addEventListener('connected', () => this.opens++);
    this.es.addEventListener('reset', () => this.resets++);
    this.es.addEventListener('shutdown', () => this.shutdowns++);
  }

  get worker(): number {
    return this.workers.at(-1) ?? -1;
  }

  on(channel: string): number[] {
    return this.got.filter((g) => g.channel === channel).map((g) => g.n);
  }
}

/** Opens subscribers until at least `each` are on each of the two workers. */
async function subscribersOnBoth(
  url: string,
  channels: string[],
  token: string,
  each = 1,
): Promise<Subscriber[]> {
  const subs: Subscriber[] = [];
  const on = (w: number) => subs.filter((s) => s.opens > 0 && s.worker === w).length;
  for (let i = 0; i < 20 && (on(0) < each || on(1) < each); i++) {
    const s = new Subscriber(url, channels, token);
    subs.push(s);
    await waitFor(() => s.opens === 1, 10_000, 'a subscriber to connect');
  }
  expect(on(0)).toBeGreaterThanOrEqual(each);
  expect(on(1)).toBeGreaterThanOrEqual(each);
  return subs;
}

/** Every subscriber got exactly 0..count-1 on each channel: nothing lost, doubled or reordered. */
function expectExact(subs: Subscriber[], counts: Map<string, number>): void {
  for (const s of subs) {
    for (const [channel, count] of counts) expect(s.on(channel)).toEqual(range(0, count));
    expect(s.resets).toBe(0);
  }
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('herald serve --workers 2', () => {
  let h: Herald;
  let reader: string;
  beforeAll(async () => {
    h = await serveWorkers([
      '--rate-limit-window-ms',
      '60000',
      '--rate-limit-publish-per-user',
      '10',
      '--stream-max-tokens',
      '1000',
    ]);
    reader = await tokens.mint({ channels: ['w:*', 'ai:*'], ttlSec: 600 });
  }, 30_000);
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
    expect(h.out()).toContain('shutdown complete');
  });

  it('delivers every event once and in order, whichever worker published or serves it', async () => {
    const channels = ['w:a', 'w:b'];
    const subs = await subscribersOnBoth(h.url, channels, reader, 2);
    const counts = new Map(channels.map((c) => [c, 0]));
    const publishers = new Set<number>();
    const seqs = new Map<string, number[]>(channels.map((c) => [c, []]));
    // Two publishers at once, each over fresh connections (so over both workers); each
    // channel's events are numbered in the order their publishes were acknowledged.
    const next = (channel: string) => {
      const n = counts.get(channel)!;
      counts.set(channel, n + 1);
      return n;
    };
    const publishAll = async (channel: string, k: number) => {
      for (let i = 0; i < k; i++) {
        const a = await publishOnce(h.url, channel, next(channel));
        publishers.add(a.worker);
        seqs.get(channel)!.push(a.body.events[0].seq as number);
      }
    };
    await Promise.all([publishAll('w:a', 60), publishAll('w:b', 60)]);
    // Two subscribers leave and come back with their cursor while more is published; cluster
    // puts each new connection on the next worker.
    for (const s of subs.slice(0, 2)) s.es.close();
    await Promise.all([publishAll('w:a', 40), publishAll('w:b', 40)]);
    const back = subs.slice(0, 2).map((s) => new Subscriber(h.url, channels, reader, s));
    await Promise.all([publishAll('w:a', 20), publishAll('w:b', 20)]);
    expect([...publishers].sort()).toEqual([0, 1]);
    // Sequences are one per acknowledged publish, 1..n with no gap, in acknowledgement order
    // per publisher loop (the loops wait for each answer).
    for (const c of channels) expect(seqs.get(c)).toEqual(range(1, counts.get(c)! + 1));
    const live = subs.slice(2);
    await waitFor(
      () =>
        [...live, ...back].every((s) => channels.every((c) => s.on(c).length === counts.get(c))),
      20_000,
      'every subscriber to get every event',
    );
    expectExact(live, counts);
    expectExact(back, counts);
    for (const s of [...live, ...back]) s.es.close();
  }, 60_000);
});
