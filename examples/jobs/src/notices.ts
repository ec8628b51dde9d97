import type { HeraldPublisher } from '@herald/client/node';
import type { CouponRequest, Outcome } from './store/coupon-store.js';

/** The event types a subscriber of `user:{id}` sees for a coupon job, in this order. */
export const JOB_EVENT = {
  queued: 'job.queued',
  progress: 'job.progress',
  complete: 'issue-complete',
  failed: 'issue-failed',
} as const;

/** `data` of `job.queued` and `job.progress` (plain durable events). */
export interface JobEventData {
  jobId: string;
  kind: 'coupon';
  promotionId: string;
  /** `job.progress` only: 0-100. */
  progress?: number;
  /** `job.progress` only: what the job is doing. */
  stage?: string;
}

/** `data.data` of `issue-complete` and `issue-failed` (inbox notifications). */
export type OutcomeData = Omit<Outcome, 'userId'>;

const MESSAGES: Record<string, string> = {
  'sold-out': 'This promotion has no coupons left.',
  'already-issued': 'You already hold a coupon of this promotion.',
  error: 'The coupon could not be issued; please try again later.',
};

/**
 * Publishes a coupon job's notices on its user's channel through the Node SDK. Every write
 * carries an idempotency key derived from the job id, so whichever worker (re)runs the job
 * and however often, each notice is published once: a repeat gets Herald's first answer back.
 */
export class JobNotices {
  constructor(private readonly herald: HeraldPublisher) {}

  queued(req: CouponRequest): Promise<unknown> {
    return this.event(req, JOB_EVENT.queued, 'queued', {});
  }

  /** Deterministic per (job, progress): a retried job that reaches it again publishes nothing. */
  progress(req: CouponRequest, progress: number, stage: string): Promise<unknown> {
    return this.event(req, JOB_EVENT.progress, `progress:${progress}`, { progress, stage });
  }

  /** The completion notice: an inbox notification typed `issue-complete` or `issue-failed`. */
  outcome(o: Outcome): Promise<unknown> {
    const { userId, ...data } = o;
    const issued = o.status === 'issued';
    return this.herald.notify(
      userId,
      {
        type: issued ? JOB_EVENT.complete : JOB_EVENT.failed,
        title: issued ? 'Coupon issued' : 'Coupon not issued',
        message: issued
          ? `Your coupon for ${o.promotionId} is ready: ${o.couponCode}`
          : (MESSAGES[o.reason] ?? MESSAGES['error']!),
        category: 'coupons',
        data: data satisfies OutcomeData,
      },
      // One key for both types: the outcome is stored once, so the body is the same on
      // every attempt (a different body under the same key would be refused, 422).
      { idempotencyKey: `coupon-job:${o.jobId}:outcome` },
    );
  }

  private event(
    req: CouponRequest,
    type: string,
    step: string,
    extra: Pick<JobEventData, 'progress' | 'stage'>,
  ): Promise<unknown> {
    const data: JobEventData = {
      jobId: req.jobId,
      kind: 'coupon',
      promotionId: req.promotionId,
      ...extra,
    };
    return this.herald.publish(
      { channel: `user:${req.userId}`, type, data },
      { idempotencyKey: `coupon-job:${req.jobId}:${step}` },
    );
  }
}
