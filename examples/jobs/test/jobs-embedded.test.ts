import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_KEY,
  call,
  startServer,
  waitFor,
  type TestServer,
} from '../../../packages/server/test/helpers.js';
import { RawSse } from '../../../packages/server/test/sse-client.js';
import { createJobsApi, type JobsApi } from '../src/api.js';
import { loadJobsConfig, type JobsConfig } from '../src/config.js';
import { couponQueue, redisConnection } from '../src/queue.js';
import { SqliteCouponStore } from '../src/store/sqlite.js';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { killWorkers, pool, queueCoupon, spawnWorker, startRedis, UserStream } from './harness.js';

/**
 * The embedded default: Herald on its SQLite file and in-memory broker, the jobs' results in
 * a SQLite file, BullMQ on a redis-server of this test's own.
 */
const SECRET = 'jobs-embedded-secret-0123456789abcdefgh';

describe('coupon jobs on the embedded default (SQLite)', () => {
  let herald: TestServer;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let api: JobsApi;
  let apiUrl = '';
  let worker: RunningWorker | undefined;
  let config: JobsConfig;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'jobs-embedded-'));

  beforeAll(async () => {
    redis = await startRedis();
    herald = await startServer({ jwtSecret: SECRET });
    env = {
      HERALD_URL: herald.url,
      HERALD_API_KEY: API_KEY,
      HERALD_JWT_SECRET: SECRET,
      REDIS_URL: redis.url,
      JOBS_SQLITE_PATH: join(dir, 'jobs.db'),
      JOBS_PORT: '0',
      JOBS_LOCK_MS: '3000',
      JOBS_WORK_MS: '20',
      JOBS_PROMOTIONS: 'welcome:1000000,gone:0,spring:1000000',
    };
    config = loadJobsConfig(env);
    api = await createJobsApi(config);
    apiUrl = `http://127.0.0.1:${await api.listen()}`;
  });

  afterAll(async () => {
    killWorkers();
    await worker?.close();
    await api?.close();
    await herald?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const runWorker = async () => (worker ??= await startWorker(config));
  const stop = async () => {
    await worker?.close();
    worker = undefined;
  };

  it('answers 202 {jobId}, then job.queued, job.progress and issue-complete on the wire', async () => {
    await runWorker();
    const token = await herald.token('alice');
    const sse = await RawSse.open(`${herald.url}/events?channels=user:alice`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => sse.of('connected').length === 1);
    const res = await fetch(`${apiUrl}/jobs/coupons`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ promotionId: 'welcome' }),
    });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => sse.of('summary').length === 1);
    const jobEvents = sse.events.filter((e) => e.event !== 'connected');
    // The inbox follows every new notification with the user's fresh `summary`.
    expect(jobEvents.map((e) => e.event)).toEqual([
      'job.queued',
      'job.progress',
      'issue-complete',
      'summary',
    ]);
    expect(jobEvents.every((e) => e.channel === 'user:alice' && e.id)).toBe(true);
    const [queued, progress, done, summary] = jobEvents.map((e) => JSON.parse(e.data));
    expect(summary).toMatchObject({ unread: 1, unreadByCategory: { coupons: 1 } });
    expect(queued).toEqual({ jobId, kind: 'coupon', promotionId: 'welcome' });
    expect(progress).toEqual({
      jobId,
      kind: 'coupon',
      promotionId: 'welcome',
      progress: 50,
      stage: 'issuing',
    });
    // issue-complete is an inbox notification: the notification object, the outcome in data.
    expect(done).toMatchObject({
      userId: 'alice',
      title: 'Coupon issued',
      category: 'coupons',
      read: false,
      data: { jobId, promotionId: 'welcome', status: 'issued' },
    });
    expect(done.data.couponCode).toMatch(/^[A-Z2-9]{12}$/);
    expect(done.message).toContain(done.data.couponCode);
    sse.close();

    // It is in alice's inbox, and her job's stored outcome says the same.
    const inbox = await call(herald, 'GET', '/notifications', token);
    expect(inbox.body.notifications.map((n: any) => n.id)).toEqual([done.id]);
    const status = await fetch(`${apiUrl}/jobs/coupons/${jobId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await status.json()).toMatchObject({
      status: 'issued',
      couponCode: done.data.couponCode,
    });
    // Nobody else reads it: another user's job id answers like an unknown one.
    const bob = await herald.token('bob');
    const other = await fetch(`${apiUrl}/jobs/coupons/${jobId}`, {
      headers: { authorization: `Bearer ${bob}` },
    });
    expect(other.status).toBe(404);
  });

  it('refuses a missing token, a bad body and an unknown promotion', async () => {
    const post = (body: unknown, auth?: string) =>
      fetch(`${apiUrl}/jobs/coupons`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(auth ? { authorization: `Bearer ${auth}` } : {}),
        },
        body: JSON.stringify(body),
      });
    expect((await post({ promotionId: 'welcome' })).status).toBe(401);
    expect((await post({ promotionId: 'welcome' }, 'not-a-token')).status).toBe(401);
    const token = await herald.token('carol');
    const bad = await post({ promotionId: 'Nope!' }, token);
    expect(bad.status).toBe(400);
    const unknown = await post({ promotionId: 'autumn' }, token);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'unknown-promotion' } });
  });

  it('sends issue-failed with the reason: sold-out, already-issued', async () => {
    await runWorker();
    const token = await herald.token('dave');
    const s = new UserStream('dave', herald.url, token);
    s.open();
    await waitFor(() => s.connected);
    const gone = await queueCoupon(apiUrl, token, 'gone');
    const first = await queueCoupon(apiUrl, token, 'spring');
    await waitFor(() => s.outcomes(first) === 1);
    const second = await queueCoupon(apiUrl, token, 'spring');
    await waitFor(() => s.outcomes(gone) === 1 && s.outcomes(second) === 1);
    expect(s.count('issue-failed', gone)).toBe(1);
    expect(s.count('issue-complete', first)).toBe(1);
    expect(s.count('issue-failed', second)).toBe(1);
    const failed = s.last.get('issue-failed');
    expect(failed).toMatchObject({
      title: 'Coupon not issued',
      data: { jobId: second, status: 'failed', reason: 'already-issued' },
    });
    s.close();
  });

  it('gives a user who was offline when the job finished every notice on reconnect, once', async () => {
    await runWorker();
    const token = await herald.token('erin');
    const s = new UserStream('erin', herald.url, token);
    s.open();
    await waitFor(() => s.connected);
    s.close(); // offline from here on, with the cursor of before the job
    const jobId = await queueCoupon(apiUrl, token, 'welcome');
    const store = new SqliteCouponStore(config.sqlitePath);
    await waitFor(async () => (await store.outcome(jobId)) !== undefined, 30_000, 'the outcome');
    await store.close();
    // The notice may still be in flight after the outcome is stored: wait for the inbox row.
    await waitFor(
      async () =>
        (await call(herald, 'GET', '/notifications', token)).body.notifications.length === 1,
    );
    s.open();
    await waitFor(() => s.outcomes(jobId) === 1);
    await herald.post('/publish', { channel: 'user:erin', type: 'marker', data: 1 });
    await waitFor(() => s.markers === 1);
    expect([
      s.count('job.queued', jobId),
      s.count('job.progress', jobId),
      s.count('issue-complete', jobId),
    ]).toEqual([1, 1, 1]);
    s.close();
  });

  it('settles a job failing on its last attempt as issue-failed with reason error', async () => {
    await stop();
    const one = { ...config, attempts: 1, queueName: 'coupons-last-attempt' };
    worker = await startWorker(one);
    const token = await herald.token('frank');
    const s = new UserStream('frank', herald.url, token);
    s.open();
    await waitFor(() => s.connected);
    // A promotion whose settle throws: the row's stock is not a number SQLite can compare.
    const db = new Database(config.sqlitePath);
    db.prepare("INSERT INTO promotions (id, stock, issued) VALUES ('broken', 1, 0)").run();
    db.exec(
      "CREATE TRIGGER broken_settle BEFORE UPDATE ON promotions WHEN OLD.id = 'broken' BEGIN SELECT RAISE(ABORT, 'broken promotion'); END",
    );
    db.close();
    const jobId = randomUUID();
    const q = couponQueue(one);
    await q.add('coupon', { userId: 'frank', promotionId: 'broken' }, { jobId });
    await q.close();
    await waitFor(() => s.outcomes(jobId) === 1, 30_000, 'the failure notice');
    expect(s.last.get('issue-failed')).toMatchObject({
      data: { jobId, status: 'failed', reason: 'error' },
    });
    s.close();
    await stop();
  });

  it('delivers exactly one notice per job with two worker processes and one killed (SIGKILL)', async () => {
    await stop();
    const USERS = 30;
    const PER_USER = 10;
    const users = Array.from({ length: USERS }, (_, i) => `e${i}`);
    const tokens = new Map<string, string>();
    for (const u of users) tokens.set(u, await herald.token(u));
    const streams = users.map((u) => new UserStream(u, herald.url, tokens.get(u)!));
    for (const s of streams) s.open();
    await waitFor(() => streams.every((s) => s.connected));
    const events = new QueueEvents(config.queueName, { connection: redisConnection(redis.url) });
    let stalled = 0;
    events.on('stalled', () => stalled++);
    await events.waitUntilReady();
    const wenv = { ...env, JOBS_CONCURRENCY: '8', JOBS_WORK_MS: '30' };
    const workers = [await spawnWorker(wenv), await spawnWorker(wenv)];
    const jobs: { u: string; jobId: string }[] = [];
    const asks = users.flatMap((u) => Array.from({ length: PER_USER }, () => u));
    const producing = pool(asks, 16, async (u) => {
      jobs.push({ u, jobId: await queueCoupon(apiUrl, tokens.get(u)!, 'welcome') });
    });
    const delivered = () => streams.reduce((n, s) => n + s.outcomeTotal, 0);
    await waitFor(() => delivered() >= (USERS * PER_USER) / 3, 60_000, 'a third of the notices');
    await workers[0]!.kill('SIGKILL');
    workers[0] = await spawnWorker(wenv);
    await producing;
    await waitFor(() => delivered() >= USERS * PER_USER, 60_000, 'every notice');
    await pool(users, 16, async (u) => {
      await herald.post('/publish', { channel: `user:${u}`, type: 'marker', data: 1 });
    });
    await waitFor(() => streams.every((s) => s.markers === 1));
    const byUser = new Map(streams.map((s) => [s.userId, s]));
    const counts = jobs.map((j) => byUser.get(j.u)!.outcomes(j.jobId));
    const lost = counts.filter((n) => n === 0).length;
    const doubled = counts.filter((n) => n > 1).length;
    console.log(JSON.stringify({ embedded: true, jobs: jobs.length, lost, doubled, stalled }));
    await events.close();
    for (const w of workers) await w.kill('SIGTERM');
    for (const s of streams) s.close();
    expect(jobs).toHaveLength(USERS * PER_USER);
    expect({ lost, doubled }).toEqual({ lost: 0, doubled: 0 });
    expect(stalled).toBeGreaterThan(0); // the kill hit running jobs
    // One coupon per user: the other nine asks of each user were refused, each once.
    const failed = streams.reduce(
      (n, s) => n + [...s.seen.keys()].filter((k) => k.startsWith('issue-failed')).length,
      0,
    );
    expect(failed).toBe(USERS * (PER_USER - 1));
  });
});
