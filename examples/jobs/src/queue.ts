import { Queue, type ConnectionOptions } from 'bullmq';
import type { JobsConfig } from './config.js';

/** A queued coupon job's data; its job id is a UUID made by the API. */
export interface CouponJobData {
  userId: string;
  promotionId: string;
}

/**
 * BullMQ's connection options from a redis URL. `maxRetriesPerRequest: null` is what BullMQ
 * asks of worker connections: a command waits through a Redis restart instead of failing.
 */
export function redisConnection(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    maxRetriesPerRequest: null,
  };
}

export function couponQueue(config: JobsConfig): Queue<CouponJobData> {
  return new Queue<CouponJobData>(config.queueName, {
    connection: redisConnection(config.redisUrl),
    defaultJobOptions: {
      attempts: config.attempts,
      backoff: { type: 'exponential', delay: 500 },
      // The outcome lives in the database; Redis keeps only a short tail of finished jobs.
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 10_000 },
    },
  });
}
