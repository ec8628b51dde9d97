import { setTimeout as sleep } from 'node:timers/promises';
import { HeraldPublisher } from '@herald/client/node';
import { Worker, type Job } from 'bullmq';
import type { JobsConfig } from './config.js';
import { JobNotices } from './notices.js';
import { redisConnection, type CouponJobData } from './queue.js';
import { openCouponStore } from './store/open.js';
import type { CouponRequest, CouponStore, Outcome } from './store/coupon-store.js';

function requestOf(job: Job<CouponJobData>): CouponRequest {
  return { jobId: job.id ?? '', userId: job.data.userId, promotionId: job.data.promotionId };
}

/**
 * Runs one coupon job: progress notice, the work, the outcome settled in the database, the
 * completion notice. Safe to run again for the same job at any point (a worker killed mid-job
 * and the job taken over by another): the outcome is decided once and every notice has a key
 * derived from the job id. On the last attempt an error settles the job as failed, so every
 * job ends with exactly one notice.
 */
export function couponProcessor(store: CouponStore, notices: JobNotices, workMs: number) {
  return async (job: Job<CouponJobData>): Promise<Outcome> => {
    const req = requestOf(job);
    try {
      await notices.progress(req, 50, 'issuing');
      if (workMs > 0) await sleep(workMs);
      const outcome = await store.settle(req);
      await notices.outcome(outcome);
      return outcome;
    } catch (err) {
      if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw err;
      const outcome = await store.fail(req, 'error');
      await notices.outcome(outcome);
      return outcome;
    }
  };
}

export interface RunningWorker {
  readonly worker: Worker<CouponJobData, Outcome>;
  close(): Promise<void>;
}

export async function startWorker(config: JobsConfig): Promise<RunningWorker> {
  const store = await openCouponStore(config);
  const notices = new JobNotices(
    new HeraldPublisher({ url: config.heraldUrl, apiKey: config.heraldApiKey }),
  );
  const worker = new Worker<CouponJobData, Outcome>(
    config.queueName,
    couponProcessor(store, notices, config.workMs),
    {
      connection: redisConnection(config.redisUrl),
      concurrency: config.concurrency,
      lockDuration: config.lockMs,
      stalledInterval: Math.max(500, Math.floor(config.lockMs / 2)),
      maxStalledCount: config.maxStalled,
    },
  );
  // A job that stalled more than maxStalled times fails without running the processor: it
  // still gets its notice (best effort: this handler is not crash-safe, the processor is).
  worker.on('failed', (job, err) => {
    const final =
      job && (job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(err.message));
    if (!job || !final) return;
    const req = requestOf(job);
    store
      .fail(req, 'error')
      .then((o) => notices.outcome(o))
      .catch((e: unknown) => console.error('failed job not settled', req.jobId, e));
  });
  worker.on('error', (err) => console.error('worker:', err.message));
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      await worker.close();
      await store.close();
    },
  };
}
