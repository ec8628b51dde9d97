import type { Priority } from '../inbox/inbox-store.js';

/**
 * The DeliveryStore keeps what external delivery (push, email, webhooks) needs beside the
 * inbox: the outbox of delivery jobs, users' push subscriptions and webhooks, their delivery
 * preferences, the server's VAPID keys, and the analytics rollups. It is a seam of its own:
 * the backends share the event store's database (the SQLite file, the PostgreSQL pool) but
 * not its tables.
 *
 * Contract (every backend runs `test/delivery-store-contract.ts`):
 * - Idempotent jobs. A job's id is `notification × channel × target` (see `jobId`);
 *   `enqueue` of an id that exists changes nothing and reports it as not new, so a retried
 *   send, a second node or a restart never queues a delivery twice.
 * - Exactly one sender. `claim` leases due pending jobs to one `owner` until `leaseUntil`;
 *   while the lease holds no other claim (any node, any process) gets the job. `complete`,
 *   `retry`, `fail` and `skip` act only while `owner` still holds the lease, so a node whose
 *   lease ran out cannot overwrite the state its successor wrote.
 * - Restarts. Jobs are rows: whatever was pending when a process died is claimed again
 *   after its lease (never-claimed jobs at once).
 * - State. A job is `pending` (with `attempts` and the `lastError` of the last try),
 *   `sent`, `failed` (with the reason) or `skipped` (with the reason: read in-app, no
 *   address). Finished jobs are kept for `list` until `trim`.
 * - Counters. `addCounts` adds to hourly rollups atomically (several nodes add at once);
 *   `stats` sums them per bucket, category, channel and counter.
 * - Errors: any method may reject when the backend is unreachable.
 */

export const CHANNELS = ['push', 'email', 'webhook'] as const;
/** An external delivery channel (in-app is the inbox itself, always on). */
export type Channel = (typeof CHANNELS)[number];

export type JobState = 'pending' | 'sent' | 'failed' | 'skipped';

export interface NewJob {
  /** `jobId(...)`: one job per notification × channel × target. */
  readonly id: string;
  readonly channel: Channel | 'digest';
  readonly userId: string;
  /** The notification, or the digest's period key (`hourly:<ms>`). */
  readonly notificationId: string;
  /** Subscription id, webhook id, or the email address. */
  readonly target: string;
  /** Not sent before this time (ms): the unread delay, the end of quiet hours, the digest's period. */
  readonly notBefore: number;
  /** JSON text of what the sender needs (the notification's content at send time). */
  readonly payload: string;
}

export interface Job extends NewJob {
  readonly state: JobState;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One job per notification × channel × target: the key that makes enqueueing idempotent. */
export function jobId(channel: string, notificationId: string, target: string): string {
  return `${channel}:${notificationId}:${target}`;
}

export interface JobFilter {
  readonly state?: JobState;
  readonly userId?: string;
  readonly notificationId?: string;
  readonly channel?: Channel | 'digest';
}

export interface PushSubscription {
  /** sha256 of the endpoint, base64url (the endpoint is the device's identity). */
  readonly id: string;
  readonly userId: string;
  readonly endpoint: string;
  /** The browser's P-256 public key and auth secret (base64url), as `PushSubscription.toJSON()` gives. */
  readonly p256dh: string;
  readonly auth: string;
  readonly createdAt: number;
}

export interface Webhook {
  readonly id: string;
  readonly userId: string;
  readonly url: string;
  /** HMAC-SHA256 key of the signature (`whsec_…`), shown once on creation. */
  readonly secret: string;
  readonly createdAt: number;
}

export type ChannelSwitches = Readonly<Partial<Record<Channel, boolean>>>;

export interface DeliveryPreferences {
  /** IANA time zone of quiet hours and daily digests (`Europe/Berlin`). */
  readonly timeZone: string;
  /** Address of the email channel; absent: no email. */
  readonly email?: string | undefined;
  /** Channels for every category without its own entry. */
  readonly channels: ChannelSwitches;
  /** Per category: overrides `channels` for the channels it names. */
  readonly categories: Readonly<Record<string, ChannelSwitches>>;
  /** Local `HH:MM`-`HH:MM`; push and email wait until it ends (webhooks too). */
  readonly quietHours?: { readonly start: string; readonly end: string } | undefined;
  /** Notifications of this priority or higher go out during quiet hours. */
  readonly bypassPriority: Priority;
  /** `off`: one email per notification; else unread ones collected into one email per period. */
  readonly digest: 'off' | 'hourly' | 'daily';
}

export const DEFAULT_DELIVERY_PREFERENCES: DeliveryPreferences = {
  timeZone: 'UTC',
  channels: { push: true, email: true, webhook: true },
  categories: {},
  bypassPriority: 'critical',
  digest: 'off',
};

export const COUNTERS = ['sent', 'delivered', 'seen', 'read', 'acked', 'failed'] as const;
export type Counter = (typeof COUNTERS)[number];

export interface CountIncrement {
  /** Start of the hour (ms). */
  readonly bucket: number;
  readonly category: string;
  /** `in_app`, `push`, `email`, `webhook`, `digest`. */
  readonly channel: string;
  readonly counter: Counter;
  readonly count: number;
  /** Sum of the times to read (ms) of the `read` increments. */
  readonly sumMs: number;
}

export type StatRow = CountIncrement;

export interface DeliveryStore {
  /** Creates tables (idempotent, safe when several nodes start at once). */
  init(): Promise<void>;

  /** Queues jobs; returns the ids that were new (existing ids are left as they are). */
  enqueue(jobs: readonly NewJob[], now: number): Promise<string[]>;
  /** Leases up to `limit` pending jobs due at `now` (oldest `notBefore` first) to `owner`. */
  claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<Job[]>;
  complete(id: string, owner: string, now: number): Promise<boolean>;
  /** Back to pending, due at `notBefore`, `attempts` + 1, with the error of this try. */
  retry(id: string, owner: string, notBefore: number, error: string, now: number): Promise<boolean>;
  fail(id: string, owner: string, error: string, now: number): Promise<boolean>;
  skip(id: string, owner: string, reason: string, now: number): Promise<boolean>;
  get(id: string): Promise<Job | undefined>;
  /** Newest first, at most `limit`. */
  list(filter: JobFilter, limit: number): Promise<Job[]>;
  /** Jobs per state and channel. */
  jobCounts(): Promise<{ channel: string; state: JobState; count: number }[]>;
  /** Deletes finished jobs last changed before `before`; returns how many. */
  trim(before: number): Promise<number>;

  putSubscription(sub: PushSubscription): Promise<void>;
  /** Removes `userId`'s subscription with this id; true when one was removed. */
  deleteSubscription(userId: string, id: string): Promise<boolean>;
  subscriptions(userId: string): Promise<PushSubscription[]>;
  subscription(id: string): Promise<PushSubscription | undefined>;
  /** Subscriptions of several users at once, by user id (users without any are absent). */
  subscriptionsOf(userIds: readonly string[]): Promise<Map<string, PushSubscription[]>>;

  putWebhook(hook: Webhook): Promise<void>;
  deleteWebhook(userId: string, id: string): Promise<boolean>;
  webhooks(userId: string): Promise<Webhook[]>;
  webhook(id: string): Promise<Webhook | undefined>;
  /** Webhooks of several users at once, by user id (users without any are absent). */
  webhooksOf(userIds: readonly string[]): Promise<Map<string, Webhook[]>>;

  /** Preferences per user id; users who never set them are absent. */
  preferences(userIds: readonly string[]): Promise<Map<string, DeliveryPreferences>>;
  putPreferences(userId: string, prefs: DeliveryPreferences, now: number): Promise<void>;

  /** The value stored under `key`, storing `value` first when there is none (first writer wins). */
  setting(key: string, value: string): Promise<string>;

  addCounts(increments: readonly CountIncrement[]): Promise<void>;
  /** Rollups with `since` <= bucket < `until`. */
  stats(since: number, until: number): Promise<StatRow[]>;
}

/** A job row as both SQL backends read it. */
export interface JobRow {
  id: string;
  channel: string;
  user_id: string;
  notification_id: string;
  target: string;
  not_before: number | string;
  payload: string;
  state: string;
  attempts: number;
  last_error: string | null;
  created_at: number | string;
  updated_at: number | string;
}

export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    channel: r.channel as Job['channel'],
    userId: r.user_id,
    notificationId: r.notification_id,
    target: r.target,
    notBefore: Number(r.not_before),
    payload: r.payload,
    state: r.state as JobState,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export interface SubscriptionRow {
  id: string;
  user_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  created_at: number | string;
}

export function toSubscription(r: SubscriptionRow): PushSubscription {
  return {
    id: r.id,
    userId: r.user_id,
    endpoint: r.endpoint,
    p256dh: r.p256dh,
    auth: r.auth,
    createdAt: Number(r.created_at),
  };
}

export interface WebhookRow {
  id: string;
  user_id: string;
  url: string;
  secret: string;
  created_at: number | string;
}

export function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    userId: r.user_id,
    url: r.url,
    secret: r.secret,
    createdAt: Number(r.created_at),
  };
}

export interface StatDbRow {
  bucket: number | string;
  category: string;
  channel: string;
  counter: string;
  count: number | string;
  sum_ms: number | string;
}

export function toStat(r: StatDbRow): StatRow {
  return {
    bucket: Number(r.bucket),
    category: r.category,
    channel: r.channel,
    counter: r.counter as Counter,
    count: Number(r.count),
    sumMs: Number(r.sum_ms),
  };
}
