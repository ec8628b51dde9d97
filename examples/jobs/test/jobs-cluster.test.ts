import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_URL, uniqueSchema } from '../../../packages/server/test/pg-helpers.js';
import {
  API_KEY,
  startServer,
  waitFor,
  type TestServer,
} from '../../../packages/server/test/helpers.js';
import { createJobsApi, type JobsApi } from '../src/api.js';
import { loadJobsConfig } from '../src/config.js';
import { PostgresCouponStore } from '../src/store/postgres.js';
import { redisConnection } from '../src/queue.js';
import { killWorkers, pool, queueCoupon, spawnWorker, startRedis, UserStream } from './harness.js';

/**
 * Cluster mode end to end: Herald on PostgreSQL + Redis, the jobs' results in PostgreSQL,
 * BullMQ on a redis-server of this test's own. While the jobs run, one worker is killed
 * with SIGKILL mid-job and restarted, the queue's Redis is restarted, and the other worker
 * is killed and restarted. Then every job must have exactly one completion notice on its
 * user's real SSE stream, and a tenth of the users, offline throughout, get theirs on
 * reconnect. JOBS_TEST_USERS and JOBS_TEST_JOBS_PER_USER size the run (CI: 200 x 10; the
 * full run: 1000 x 10).
 */
const USERS = Number(process.env['JOBS_TEST_USERS'] ?? 200);
const PER_USER = Number(process.env['JOBS_TEST_JOBS_PER_USER'] ?? 10);
const JOBS = USERS * PER_USER;
const SECRET = 'jobs-test-secret-0123456789abcdefghijkl';
/** A promotion with stock for half the users: the rest get `sold-out`. */
const FLASH_STOCK = Math.floor(USERS / 2);
/** Generous bounds for this loaded machine (the CI run takes about 25 s of them). */
const LONG = Math.max(120_000, JOBS * 40);

describe(`coupon jobs in cluster mode: ${JOBS} jobs from ${USERS} users, kills and a Redis restart`, () => {
  const schema = uniqueSchema('jobs_cluster');
  let herald: TestServer;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let api: JobsApi;
  let apiUrl = '';
  let env: Record<string, string>;

  beforeAll(async () => {
    redis = await startRedis();
    herald = await startServer({
      databaseUrl: PG_URL,
      databaseSchema: schema,
      // Herald's broker shares the queue's Redis, so the restart below hits both.
      redisUrl: redis.url,
      redisPrefix: `${schema}:`,
      jwtSecret: SECRET,
      rateLimitPublishPerKey: 10_000_000,
      rateLimitPublishPerIp: 10_000_000,
      rateLimitConnectPerIp: 10_000_000,
    });
    // Promotions p0..p{n-1} for everyone; p1 is the flash sale with little stock.
    const promotions = Array.from({ length: PER_USER - 1 }, (_, i) =>
      i === 1 ? `p1:${FLASH_STOCK}` : `p${i}:1000000`,
    ).join(',');
    env = {
      HERALD_URL: herald.url,
      HERALD_API_KEY: API_KEY,
      HERALD_JWT_SECRET: SECRET,
      REDIS_URL: redis.url,
      DATABASE_URL: PG_URL,
      JOBS_DATABASE_SCHEMA: schema,
      JOBS_PORT: '0',
      JOBS_CONCURRENCY: '24',
      JOBS_LOCK_MS: '3000',
      JOBS_MAX_STALLED: '10',
      JOBS_WORK_MS: '20',
      JOBS_PROMOTIONS: promotions,
    };
    api = await createJobsApi(loadJobsConfig(env));
    apiUrl = `http://127.0.0.1:${await api.listen()}`;
  });

  afterAll(async () => {
    killWorkers();
    await api?.close();
    await herald?.close();
    await redis?.stop();
    await dropSchema(schema);
  }, LONG);

  it(
    'ends every job with exactly one completion notice at its user: none lost, none doubled',
    async () => {
      const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
      const tokens = new Map<string, string>();
      for (const u of users) tokens.set(u, await herald.token(u));
      const streams = users.map((u) => new UserStream(u, herald.url, tokens.get(u)!));
      // Every tenth user connects once (for a cursor), then is offline until the end.
      const offline = streams.filter((_, i) => i % 10 === 0);
      for (const s of streams) s.open();
      await waitFor(() => streams.every((s) => s.connected), LONG, 'every stream connected');
      for (const s of offline) s.close();

      const events = new QueueEvents(env['JOBS_QUEUE'] ?? 'coupons', {
        connection: redisConnection(redis.url),
      });
      let stalled = 0;
      events.on('stalled', () => stalled++);
      events.on('error', () => {}); // while its Redis restarts
      await events.waitUntilReady();

      const workers = [await spawnWorker(env), await spawnWorker(env)];
      // Each user asks for p0..p{n-2} once and for p0 a second time (one gets already-issued).
      const asks = users.flatMap((u) =>
        Array.from({ length: PER_USER }, (_, j) => ({ u, p: `p${j < PER_USER - 1 ? j : 0}` })),
      );
      const jobs: { u: string; jobId: string }[] = [];
      const producing = pool(asks, 32, async ({ u, p }) => {
        jobs.push({ u, jobId: await queueCoupon(apiUrl, tokens.get(u)!, p) });
      });

      const online = streams.filter((s) => !offline.includes(s));
      const onlineJobs = JOBS - offline.length * PER_USER;
      const delivered = () => online.reduce((n, s) => n + s.outcomeTotal, 0);
      const until = (share: number, what: string) =>
        waitFor(() => delivered() >= onlineJobs * share, LONG, what);

      const t0 = Date.now();
      const phases: Record<string, number> = {};
      const mark = (name: string) => (phases[name] = Date.now() - t0);
      await until(0.2, '20% of the notices');
      mark('killWorker1');
      await workers[0]!.kill('SIGKILL');
      workers[0] = await spawnWorker(env);
      await until(0.45, '45% of the notices');
      mark('redisRestart');
      await redis.restart();
      await until(0.7, '70% of the notices');
      mark('killWorker2');
      await workers[1]!.kill('SIGKILL');
      workers[1] = await spawnWorker(env);
      await producing;
      expect(jobs).toHaveLength(JOBS);

      const queue = new Queue('coupons', { connection: redisConnection(redis.url) });
      queue.on('error', () => {});
      await waitFor(
        async () => {
          const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          return Object.values(c).every((n) => n === 0);
        },
        LONG,
        'the queue to drain',
      );
      await queue.close();
      mark('drained');
      // A marker after everything: once a stream has it, every earlier event has arrived.
      await pool(users, 32, async (u) => {
        const r = await herald.post('/publish', { channel: `user:${u}`, type: 'marker', data: 1 });
        expect(r.status).toBe(202);
      });
      await waitFor(() => online.every((s) => s.markers === 1), LONG, 'markers online');
      // The offline users come back with the cursor they had before any job.
      for (const s of offline) s.open();
      await waitFor(() => offline.every((s) => s.markers === 1), LONG, 'markers offline');
      mark('counted');

      const byUser = new Map(streams.map((s) => [s.userId, s]));
      let lost = 0;
      let doubled = 0;
      let complete = 0;
      let failed = 0;
      let queued = 0;
      let progress = 0;
      for (const { u, jobId } of jobs) {
        const s = byUser.get(u)!;
        const n = s.outcomes(jobId);
        if (n === 0) lost++;
        if (n > 1) doubled++;
        complete += s.count('issue-complete', jobId);
        failed += s.count('issue-failed', jobId);
        queued += s.count('job.queued', jobId);
        progress += s.count('job.progress', jobId);
      }
      const store = new PostgresCouponStore(PG_URL, schema);
      const outcomes = await Promise.all(jobs.map((j) => store.outcome(j.jobId)));
      await store.close();
      const reasons = new Map<string, number>();
      for (const o of outcomes) {
        const k = o?.status === 'failed' ? o.reason : (o?.status ?? 'none');
        reasons.set(k, (reasons.get(k) ?? 0) + 1);
      }
      console.log(
        JSON.stringify({
          jobs: JOBS,
          users: USERS,
          offlineUsers: offline.length,
          issueComplete: complete,
          issueFailed: failed,
          lost,
          doubled,
          jobQueued: queued,
          jobProgress: progress,
          takenOverAfterKill: stalled,
          outcomesInDatabase: Object.fromEntries(reasons),
          resets: streams.reduce((n, s) => n + s.resets, 0),
          msSinceFirstJob: phases,
        }),
      );
      await events.close();
      for (const w of workers) await w.kill('SIGTERM');
      for (const s of streams) s.close();

      expect({ lost, doubled }).toEqual({ lost: 0, doubled: 0 });
      expect(complete + failed).toBe(JOBS);
      // The notices say what the database holds: one coupon per user per promotion, the flash
      // sale's stock exactly, and the repeated ask refused.
      expect(Object.fromEntries(reasons)).toEqual({
        issued: USERS * (PER_USER - 1) - (USERS - FLASH_STOCK),
        'sold-out': USERS - FLASH_STOCK,
        'already-issued': USERS,
      });
      expect(complete).toBe(reasons.get('issued'));
      expect(queued).toBe(JOBS);
      expect(progress).toBe(JOBS);
      // The kills hit running jobs: some were taken over by another worker.
      expect(stalled).toBeGreaterThan(0);
    },
    3 * LONG,
  );
});
