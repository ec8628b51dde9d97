import { randomUUID } from 'node:crypto';
import { HeraldPublisher } from '@herald/client/node';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import { isPromotionId, type JobsConfig } from './config.js';
import { JobNotices } from './notices.js';
import { couponQueue, type CouponJobData } from './queue.js';
import { openCouponStore } from './store/open.js';
import type { CouponRequest } from './store/coupon-store.js';

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface JobsApi {
  readonly app: FastifyInstance;
  readonly queue: Queue<CouponJobData>;
  /** Listens on the configured port; resolves with the port. */
  listen(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `POST /jobs/coupons` and `GET /jobs/coupons/{jobId}`. The caller is the user named by
 * the same Herald token their browser streams with (verified with Herald's secret): a user
 * queues jobs for themself only and reads only their own jobs.
 */
export async function createJobsApi(config: JobsConfig): Promise<JobsApi> {
  const store = await openCouponStore(config);
  const queue = couponQueue(config);
  // Redis away (a restart): adds wait in ioredis' offline queue; the error is only reported.
  queue.on('error', (err) => console.error('queue:', err.message));
  const notices = new JobNotices(
    new HeraldPublisher({ url: config.heraldUrl, apiKey: config.heraldApiKey }),
  );
  const secret = new TextEncoder().encode(config.jwtSecret);
  const app = Fastify({ logger: false });

  async function userOf(req: FastifyRequest): Promise<string> {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m?.[1]) throw new ApiError(401, 'unauthorized', 'a Bearer token is required');
    try {
      const { payload } = await jwtVerify(m[1], secret, { algorithms: ['HS256'] });
      if (typeof payload.sub === 'string' && payload.sub !== '') return payload.sub;
    } catch {
      // fall through: the same answer for every bad token
    }
    throw new ApiError(401, 'unauthorized', 'the token is invalid or expired');
  }

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) {
      const message = err instanceof Error ? err.message : 'bad request';
      return reply.code(status).send({ error: { code: 'bad-request', message } });
    }
    console.error('jobs api:', err);
    return reply.code(503).send({ error: { code: 'unavailable', message: 'try again later' } });
  });

  app.post('/jobs/coupons', async (req, reply) => {
    const userId = await userOf(req);
    const promotionId = (req.body as { promotionId?: unknown } | null)?.promotionId;
    if (!isPromotionId(promotionId)) {
      throw new ApiError(400, 'bad-request', '"promotionId" must be a promotion id');
    }
    if (!(await store.hasPromotion(promotionId))) {
      throw new ApiError(404, 'unknown-promotion', `no promotion "${promotionId}"`);
    }
    const job: CouponRequest = { jobId: randomUUID(), userId, promotionId };
    // `job.queued` goes out before the job is queued, so no worker's notice can overtake it.
    // Herald down must not refuse the job: the outcome notice is the one that matters.
    await notices.queued(job).catch((err: unknown) => console.error('job.queued not sent:', err));
    try {
      await queue.add('coupon', { userId, promotionId }, { jobId: job.jobId });
    } catch (err) {
      // The user saw job.queued: close it with its failure notice, never leave it open.
      await store
        .fail(job, 'error')
        .then((o) => notices.outcome(o))
        .catch((e: unknown) => console.error('unqueued job not settled:', e));
      throw err;
    }
    return reply.code(202).send({ jobId: job.jobId });
  });

  app.get('/jobs/coupons/:jobId', async (req) => {
    const userId = await userOf(req);
    const { jobId } = req.params as { jobId: string };
    const outcome = await store.outcome(jobId);
    if (outcome) {
      if (outcome.userId !== userId) throw new ApiError(404, 'not-found', 'no such job');
      return outcome;
    }
    const queued = await queue.getJob(jobId);
    // Another user's job id answers exactly like an unknown one.
    if (!queued || queued.data.userId !== userId)
      throw new ApiError(404, 'not-found', 'no such job');
    return { jobId, userId, promotionId: queued.data.promotionId, status: 'pending' };
  });

  app.get('/healthz', async () => ({ ok: true }));

  return {
    app,
    queue,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      const a = app.server.address();
      return typeof a === 'object' && a ? a.port : config.port;
    },
    async close() {
      await app.close();
      await queue.close();
      await store.close();
    },
  };
}
