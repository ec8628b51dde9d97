import { createHash } from 'node:crypto';

/**
 * What a publish under an `Idempotency-Key` fixes before it runs, kept in the key's claim so
 * that a retry taking over a claim whose holder died publishes the very same events: the
 * same publication time and the same event ids. The store then finds the events the dead
 * holder had committed (`Store.append` with `resume`) instead of storing them a second time,
 * and the retry answers with their sequences: the answer the holder would have given.
 */
export interface PublishPlan {
  /** Publication time of every event of the publish, ms since the epoch. */
  readonly ts: number;
  /** Random text the events' ids are made from (`plannedEventId`). */
  readonly seed: string;
  /** True when an earlier attempt with this plan may have stored its events (a takeover). */
  readonly resumed: boolean;
}

/**
 * The id of event `index` (its position in the publish's input) of a planned publish: a
 * version 4 UUID made from a hash of the seed and the index, so every attempt with the plan
 * names its events alike, and ids of different plans never meet.
 */
export function plannedEventId(plan: PublishPlan, index: number): string {
  const h = createHash('sha256').update(`${plan.seed}/${index}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The id of the notification a planned inbox send stores for its recipient `index`: time
 * ordered as every notification id is (version 7, the plan's time in its first 48 bits), the
 * rest from a hash of the seed and the index, so a retry names the rows as the first attempt
 * did. Never equal to a `plannedEventId` (those are version 4).
 */
export function plannedNotificationId(plan: PublishPlan, index: number): string {
  const h = createHash('sha256').update(`${plan.seed}/n/${index}`).digest('hex');
  const ms = Math.max(0, plan.ts).toString(16).padStart(12, '0').slice(-12);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The key a planned inbox send's mark is stored under (`InboxStore.appliedSends`). */
export function planKey(plan: Pick<PublishPlan, 'seed'>): string {
  return plan.seed;
}

/** The plan as the idempotency record keeps it: `<ts>:<seed>`. */
export function formatPlan(plan: Pick<PublishPlan, 'ts' | 'seed'>): string {
  return `${plan.ts}:${plan.seed}`;
}

/** The plan a record kept (`formatPlan`); undefined for text that is not one. */
export function parsePlan(text: string, resumed: boolean): PublishPlan | undefined {
  const at = text.indexOf(':');
  const ts = Number(text.slice(0, at));
  if (at <= 0 || !Number.isSafeInteger(ts)) return undefined;
  return { ts, seed: text.slice(at + 1), resumed };
}
