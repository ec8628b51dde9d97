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
    // A connection that cluster was handing to a worker as it died is never answered: the
    // client's own timeout (as every real client has one) is what ends it.
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
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

  it('replays an idempotent publish sent to both workers: one event, one answer', async () => {
    const key = randomUUID();
    const sub = new Subscriber(h.url, ['w:idem'], reader);
    await waitFor(() => sub.opens === 1);
    const answers: Answer[] = [];
    // The same key, at once, until both workers have answered it.
    for (let round = 0; round < 10 && new Set(answers.map((a) => a.worker)).size < 2; round++) {
      answers.push(
        ...(await Promise.all(
          [0, 1, 2, 3].map(() =>
            send(
              h.url,
              'POST',
              '/publish',
              { ...asKey, 'idempotency-key': key },
              { channel: 'w:idem', type: 'tick', data: { n: 0, channel: 'w:idem' } },
            ),
          ),
        )),
      );
    }
    expect(new Set(answers.map((a) => a.worker))).toEqual(new Set([0, 1]));
    for (const a of answers) expect(a.status).toBe(202);
    expect(new Set(answers.map((a) => JSON.stringify(a.body.events)))).toHaveProperty('size', 1);
    await waitFor(() => sub.got.length === 1);
    // One more event after it: had the replay stored a second copy, it would come first.
    await publishOnce(h.url, 'w:idem', 1);
    await waitFor(() => sub.got.length === 2);
    expect(sub.on('w:idem')).toEqual([0, 1]);
    sub.es.close();
  });

  it('counts a rate limit once for the machine, over both workers', async () => {
    // --rate-limit-publish-per-user 10 in a 60 s window.
    const token = await tokens.mint({ sub: 'limited', publish: ['w:*'], ttlSec: 600 });
    const answers = await Promise.all(
      range(0, 30).map((n) =>
        send(
          h.url,
          'POST',
          '/publish',
          { authorization: `Bearer ${token}` },
          { channel: 'w:limited', type: 'tick', data: { n, channel: 'w:limited' } },
        ),
      ),
    );
    expect(new Set(answers.map((a) => a.worker))).toEqual(new Set([0, 1]));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(10);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(20);
  });

  it('streams an AI answer produced on one worker to subscribers on both', async () => {
    const channel = `ai:${randomUUID().slice(0, 8)}`;
    const subs = await subscribersOnBoth(h.url, [channel], reader);
    const seen = subs.map(() => [] as number[]);
    const complete = subs.map(() => 0);
    subs.forEach((s, k) => {
      s.es.addEventListener('ai_response', (e) => seen[k]!.push(JSON.parse(e.data).i as number));
      s.es.addEventListener('ai_complete', () => complete[k]!++);
    });
    const p = new RawStreamProducer(h.url, channel, asKey);
    p.tokens(words(0, 100));
    await waitFor(() => seen.every((t) => t.length === 100), 10_000, 'every token everywhere');
    // Mid-answer, any worker knows the stream (its tokens live in the primary).
    const status = await Promise.all(
      [0, 1, 2, 3].map(() => send(h.url, 'GET', `/streams/${channel}?token=${reader}`, {})),
    );
    expect(new Set(status.map((a) => a.worker))).toEqual(new Set([0, 1]));
    for (const a of status) expect(a.body).toMatchObject({ status: 'streaming', n: 100 });
    // A cancel on either worker reaches the producer, wherever it runs.
    const cancel = await send(h.url, 'POST', `/streams/${channel}/cancel`, asKey);
    expect(cancel.status).toBe(202);
    const answer = await p.finish();
    expect(answer.at(-1)).toMatchObject({ reason: 'cancelled' });
    await waitFor(() => complete.every((n) => n === 1));
    for (const t of seen) expect(t).toEqual(range(0, 100));
    for (const s of subs) s.es.close();
  });

  it('keeps unread counts and summaries exact whichever worker changed them', async () => {
    const user = `u-${randomUUID().slice(0, 8)}`;
    const token = await tokens.mint({ sub: user, ttlSec: 600 });
    const summaries: number[] = [];
    const es = new EventSource(`${h.url}/events/${user}?token=${token}`);
    let opened = false;
    es.addEventListener('summary', (e) => summaries.push(JSON.parse(e.data).unread as number));
    es.addEventListener('connected', () => (opened = true));
    await waitFor(() => opened);
    const sent = await Promise.all(
      range(0, 12).map((n) =>
        send(h.url, 'POST', `/notify/${user}`, asKey, { title: `t${n}`, message: 'm' }),
      ),
    );
    expect(new Set(sent.map((a) => a.worker))).toEqual(new Set([0, 1]));
    for (const a of sent) expect(a.status).toBe(202);
    await waitFor(() => summaries.at(-1) === 12, 10_000, 'the summary to count 12 unread');
    const ids = sent.map((a) => a.body.notifications[0].id as string);
    const reads = await Promise.all(
      ids
        .slice(0, 5)
        .map((id) =>
          send(h.url, 'POST', `/notifications/${id}/read`, { authorization: `Bearer ${token}` }),
        ),
    );
    expect(new Set(reads.map((a) => a.worker))).toEqual(new Set([0, 1]));
    await waitFor(() => summaries.at(-1) === 7, 10_000, 'the summary to count 7 unread');
    const fromEach = await Promise.all(
      [0, 1, 2, 3].map(() =>
        send(h.url, 'GET', '/notifications/summary', { authorization: `Bearer ${token}` }),
      ),
    );
    expect(new Set(fromEach.map((a) => a.worker))).toEqual(new Set([0, 1]));
    for (const a of fromEach) expect(a.body.unread).toBe(7);
    es.close();
  });

  it('adds up the admin stats of both workers', async () => {
    const subs = await subscribersOnBoth(h.url, ['w:stats'], reader);
    const stats = await send(h.url, 'GET', '/admin/stats', asKey);
    expect(stats.status).toBe(200);
    const workers = stats.body.workers as { slot: number; connections: number }[];
    expect(workers.map((w) => w.slot)).toEqual([0, 1]);
    const sum = workers.reduce((n, w) => n + w.connections, 0);
    expect(stats.body.connections).toBe(sum);
    expect(sum).toBeGreaterThanOrEqual(subs.length);
    const row = (stats.body.channelSubscribers as { channel: string; subscribers: number }[]).find(
      (c) => c.channel === 'w:stats',
    );
    expect(row?.subscribers).toBe(subs.length);
    for (const s of subs) s.es.close();
  });
});

describe('a worker that dies, and SIGTERM', () => {
  it('replaces a killed worker; its subscribers resume on a live one with nothing lost', async () => {
    const h = await serveWorkers(['--retry-ms', '100']);
    const reader = await tokens.mint({ channels: ['w:*'], ttlSec: 600 });
    const subs = await subscribersOnBoth(h.url, ['w:k'], reader, 2);
    const victims = subs.filter((s) => s.worker === 1);
    let sent = 0;
    const publishSome = async (k: number) => {
      for (let i = 0; i < k; i++) await publishOnce(h.url, 'w:k', sent++);
    };
    await publishSome(50);
    const before = await send(h.url, 'GET', '/admin/stats', asKey);
    const pids = before.body.workers as { slot: number; pid: number }[];
    const victim = pids.find((w) => w.slot === 1)!.pid;
    // Between two publishes, so that no acknowledged publish is cut off mid-request.
    process.kill(victim, 'SIGKILL');
    await publishSome(50);
    await waitFor(() => h.out().includes('starting another in its slot'), 10_000, 'a restart');
    await waitFor(
      async () => {
        const now = await send(h.url, 'GET', '/admin/stats', asKey);
        const w = now.body.workers as { slot: number; pid: number }[];
        return w.length === 2 && w.every((x) => x.pid !== victim);
      },
      20_000,
      'the slot to be filled again',
    );
    await publishSome(50);
    await waitFor(
      () => subs.every((s) => s.on('w:k').length === sent),
      20_000,
      'every subscriber to get every event',
    );
    expectExact(subs, new Map([['w:k', sent]]));
    for (const s of victims) expect(s.opens).toBeGreaterThanOrEqual(2);

    // SIGTERM to the primary: every worker drains (a shutdown event to each stream), exit 0.
    expect(await h.stop()).toBe(0);
    await waitFor(() => subs.every((s) => s.shutdowns >= 1), 10_000, 'shutdown events');
    expect(h.out()).toContain('shutdown complete');
    for (const s of subs) s.es.close();
  }, 90_000);
});

describe('retention across workers', () => {
  it('trims the shared file, and either worker sends reset for a cursor older than it', async () => {
    const h = await serveWorkers(['--retention-max-events', '5', '--retention-interval-sec', '1']);
    const reader = await tokens.mint({ channels: ['w:*'], ttlSec: 600 });
    const first = await publishOnce(h.url, 'w:r', 0);
    for (let n = 1; n < 20; n++) await publishOnce(h.url, 'w:r', n);
    const old = first.body.events[0].streamId as string;
    /** A stream resumed from the first event: its reset reason, worker and events. */
    const resume = () =>
      new Promise<{ reason: string; worker: number; got: number[] }>((resolve) => {
        const q = new URLSearchParams({ channels: 'w:r', token: reader, lastEventId: old });
        let worker = -1;
        let reason = '';
        const got: number[] = [];
        const es = new EventSource(`${h.url}/events?${q.toString()}`, {
          fetch: async (input, init) => {
            const res = await fetch(input, init);
            worker = Number(res.headers.get('herald-worker') ?? -1);
            return res;
          },
        });
        es.addEventListener('reset', (e) => (reason = JSON.parse(e.data).reason as string));
        es.addEventListener('tick', (e) => {
          got.push((JSON.parse(e.data) as { n: number }).n);
          if (got.length === (reason === '' ? 19 : 5)) {
            es.close();
            resolve({ reason, worker, got });
          }
        });
      });
    // Worker 0's sweep keeps the last 5 events; until it has run, a resume gets all 19. A
    // deadline, not a count of tries: on a quiet machine 200 resumes took less than the
    // sweep's first second, and none saw it.
    const seen = new Map<number, { reason: string; got: number[] }>();
    const deadline = Date.now() + 30_000;
    while (seen.size < 2 && Date.now() < deadline) {
      const r = await resume();
      if (r.reason !== '') seen.set(r.worker, r);
      else await new Promise((done) => setTimeout(done, 50));
    }
    expect([...seen.keys()].sort()).toEqual([0, 1]);
    for (const r of seen.values()) {
      expect(r.reason).toBe('expired');
      expect(r.got).toEqual(range(15, 20));
    }
    expect(await h.stop()).toBe(0);
  }, 90_000);
});
