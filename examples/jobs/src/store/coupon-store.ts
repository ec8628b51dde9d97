import { randomBytes } from 'node:crypto';
import type { Promotion } from '../config.js';

/** What a coupon job asks for; `jobId` is the queue's job id (a UUID, unique forever). */
export interface CouponRequest {
  readonly jobId: string;
  readonly userId: string;
  readonly promotionId: string;
}

/** Why a job settled without a coupon. */
export type FailureReason = 'sold-out' | 'already-issued' | 'error';

/** A job's stored result: decided once, read back unchanged by every later attempt. */
export type Outcome = CouponRequest & { readonly settledAt: string } & (
    | { readonly status: 'issued'; readonly couponCode: string }
    | { readonly status: 'failed'; readonly reason: FailureReason }
  );

/**
 * Where coupon jobs settle. The contract that makes a retried job harmless:
 *
 * - `settle` decides a job's outcome at most once. The first call for a job id takes one unit
 *   of the promotion's stock and stores `issued` with a coupon code, or stores `failed` with
 *   `sold-out` (no stock left) or `already-issued` (the user holds a coupon of this
 *   promotion); stock, coupon and outcome are written in one transaction. Every later call
 *   for the same job id, from any process, returns the stored outcome and changes nothing.
 * - `fail` stores `failed` with the reason unless the job already has an outcome, and returns
 *   whichever is stored.
 *
 * So the notice built from an outcome is the same on every attempt, and its idempotency key
 * (derived from the job id) never meets a different body.
 */
export interface CouponStore {
  /** Creates the tables when missing and the promotions not yet known (stock is set once). */
  init(promotions: readonly Promotion[]): Promise<void>;
  hasPromotion(id: string): Promise<boolean>;
  settle(req: CouponRequest): Promise<Outcome>;
  fail(req: CouponRequest, reason: FailureReason): Promise<Outcome>;
  outcome(jobId: string): Promise<Outcome | undefined>;
  close(): Promise<void>;
}

/** A stored row, as both backends read it. */
export interface OutcomeRow {
  job_id: string;
  user_id: string;
  promotion_id: string;
  status: string;
  coupon_code: string | null;
  reason: string | null;
  settled_at: string | number;
}

export function outcomeOf(row: OutcomeRow): Outcome {
  const base = {
    jobId: row.job_id,
    userId: row.user_id,
    promotionId: row.promotion_id,
    settledAt: new Date(Number(row.settled_at)).toISOString(),
  };
  return row.status === 'issued'
    ? { ...base, status: 'issued', couponCode: row.coupon_code ?? '' }
    : { ...base, status: 'failed', reason: (row.reason ?? 'error') as FailureReason };
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A 12-character coupon code without look-alike characters (no 0/O, 1/I). */
export function couponCode(): string {
  return [...randomBytes(12)].map((b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join('');
}

/** The decision `settle` takes, once the promotion is locked and the job has no outcome. */
export function decide(
  promotion: { stock: number; issued: number } | undefined,
  userHoldsOne: boolean,
): { status: 'issued' } | { status: 'failed'; reason: FailureReason } {
  if (userHoldsOne) return { status: 'failed', reason: 'already-issued' };
  if (!promotion || promotion.issued >= promotion.stock)
    return { status: 'failed', reason: 'sold-out' };
  return { status: 'issued' };
}
