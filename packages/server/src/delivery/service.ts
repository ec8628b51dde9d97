import { createHash, randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { BlockList } from 'node:net';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import { HeraldError } from '../errors.js';
import type { Hub } from '../hub/hub.js';
import type { InboxScope, StateChange, StoredNotification } from '../inbox/inbox-store.js';
import type { InboxObserver, InboxService } from '../inbox/service.js';
import type { Logger } from '../logger.js';
import { DeliveryAnalytics } from './analytics.js';
import {
  type DeliveryPreferences,
  type DeliveryStore,
  type Job,
  type JobFilter,
  type NewJob,
  type PushSubscription,
  type StatRow,
  type Webhook,
  DEFAULT_DELIVERY_PREFERENCES,
  jobId,
} from './delivery-store.js';
import { EmailSender, renderDigest, renderEmail, type EmailNotification } from './email.js';
import { allowList, isRefusedAddress, RefusedAddressError } from './guarded-http.js';
import type { SendOutcome } from './outcome.js';
import { route } from './routing.js';
import { generateVapidKeys, WebPushSender, type VapidKeys } from './web-push.js';
import { newWebhookSecret, WebhookSender } from './webhook.js';

/** Jobs claimed per query, and sent at once. */
const BATCH = 16;
const CONCURRENCY = 8;
const ANALYTICS_FLUSH_MS = 5_000;
/** Unread notifications listed in one digest. */
const DIGEST_MAX = 50;

/** What a job carries: the notification as it was when queued (or the digest's period). */
interface JobPayload {
  readonly notification?: EmailNotification & { readonly data?: string | undefined };
  readonly digest?: { readonly period: string; readonly since: number; readonly until: number };
}

type Attempt = SendOutcome | { readonly kind: 'skipped'; readonly reason: string };

export interface DeliveryServiceOptions {
  readonly config: Config;
  readonly store: DeliveryStore;
  readonly inbox: InboxService;
  readonly hub: Hub;
  readonly log: Logger;
  readonly registry: Registry;
}

function contentOf(n: StoredNotification): EmailNotification & { data?: string | undefined } {
  return {
    id: n.id,
    title: n.title,
    body: n.body,
    url: n.url,
    category: n.category,
    priority: n.priority,
    createdAt: n.createdAt,
    data: n.data,
  };
}

/**
 * External delivery (docs/delivery.md): routes each new user notification to push, email
 * and webhooks by the user's delivery preferences, through a stored outbox
 * (DeliveryStore): every delivery is a job, queued idempotently per notification × channel
 * × target, claimed under a lease by exactly one node, retried with exponential backoff,
 * and kept with its state and reason. It observes the inbox (created and state-changed
 * notifications) and never changes it.
 */
export class DeliveryService implements InboxObserver {
  readonly store: DeliveryStore;
  private readonly config: Config;
  private readonly inbox: InboxService;
  private readonly hub: Hub;
  private readonly log: Logger;
  private readonly analytics: DeliveryAnalytics;
  private readonly allow: BlockList;
  /** This process's lease owner id: a restarted process is another owner. */
  private readonly owner = randomUUID();
  /**
   * How long a claimed batch is this node's: longer than the batch can take (BATCH jobs,
   * CONCURRENCY at once, each within the timeout) plus a margin. A node that dies holding
   * jobs delays them by at most this much; the next claim sends them again.
   */
  private readonly leaseMs: number;
  private email: EmailSender | undefined;
  private push!: WebPushSender;
  private webhook!: WebhookSender;
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(o: DeliveryServiceOptions) {
    this.config = o.config;
    this.store = o.store;
    this.inbox = o.inbox;
    this.hub = o.hub;
    this.log = o.log;
    this.analytics = new DeliveryAnalytics(o.store, o.registry);
    this.allow = allowList(o.config.deliveryAllowedAddresses);
    this.leaseMs = (BATCH / CONCURRENCY) * o.config.deliveryTimeoutMs + 5_000;
  }

  /** Creates tables, loads (or generates once, cluster-wide) the VAPID keys, builds the senders. */
  async init(): Promise<void> {
    const c = this.config;
    await this.store.init();
    this.push = new WebPushSender(
      Object.assign({}, await this.vapidKeys(), { subject: c.vapidSubject }),
      this.allow,
      c.deliveryTimeoutMs,
    );
    this.webhook = new WebhookSender(this.allow, c.deliveryTimeoutMs);
    if (c.smtpHost) {
      this.email = new EmailSender({
        host: c.smtpHost,
        port: c.smtpPort,
        tls: c.smtpTls as 'starttls' | 'require' | 'implicit' | 'off',
        user: c.smtpUser,
        password: c.smtpPassword,
        from: c.smtpFrom,
        rejectUnauthorized: c.smtpTlsRejectUnauthorized,
        timeoutMs: c.deliveryTimeoutMs,
      });
    }
  }

  /**
   * Configured keys, else the pair stored in the database: the first node to start generates
   * it and every later start (and every node) reads the same, so subscriptions stay valid.
   */
  private async vapidKeys(): Promise<VapidKeys> {
    const c = this.config;
    if (c.vapidPublicKey && c.vapidPrivateKey) {
      return { publicKey: c.vapidPublicKey, privateKey: c.vapidPrivateKey };
    }
    const stored = await this.store.setting('vapid', JSON.stringify(generateVapidKeys()));
    return JSON.parse(stored) as VapidKeys;
  }

  get vapidPublicKey(): string {
    return this.push.publicKey;
  }

  get emailEnabled(): boolean {
    return this.email !== undefined;
  }

  start(): void {
    const poll = setInterval(() => this.kick(), this.config.deliveryPollIntervalMs);
    const flush = setInterval(() => this.flushAnalytics(), ANALYTICS_FLUSH_MS);
    const trim = setInterval(() => {
      void this.store
        .trim(Date.now() - this.config.deliveryRetentionSec * 1000)
        .catch((err: unknown) => this.log.warn({ err }, 'delivery job retention failed'));
    }, this.config.retentionIntervalSec * 1000);
    for (const t of [poll, flush, trim]) t.unref();
    this.timers = [poll, flush, trim];
    this.kick();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.running;
    await this.analytics.flush().catch(() => undefined);
    this.email?.close();
  }

  private flushAnalytics(): void {
    this.analytics
      .flush()
      .catch((err: unknown) => this.log.warn({ err }, 'delivery analytics flush failed'));
  }

  // ------------------------------------------------------------------------------ routing

  /** The inbox made these visible: count them, and queue their external deliveries. */
  async delivered(rows: readonly StoredNotification[]): Promise<void> {
    const now = Date.now();
    const mine = rows.filter((n) => n.owner.startsWith('user:'));
    if (mine.length === 0) return;
    const users = [...new Set(mine.map((n) => n.owner.slice('user:'.length)))];
    const prefs = await this.store.preferences(users);
    // Every user's devices and webhooks in two queries, however many users the send names.
    const [subs, hooks] = await Promise.all([
      this.store.subscriptionsOf(users),
      this.store.webhooksOf(users),
    ]);
    const jobs: NewJob[] = [];
    for (const n of mine) {
      const userId = n.owner.slice('user:'.length);
      const online = this.hub.hasUser(userId);
      this.analytics.count(n.category, 'in_app', 'sent', now);
      if (online && !n.muted) this.analytics.count(n.category, 'in_app', 'delivered', now);
      // Muted by the inbox preferences: stored, not pushed live, and not sent anywhere else.
      if (n.muted) continue;
      const p = prefs.get(userId);
      const routes = route({
        prefs: p,
        notification: n,
        online,
        now,
        unreadDelayMs: this.config.deliveryUnreadDelaySec * 1000,
      });
      if (routes.length === 0) continue;
      const t = { subs: subs.get(userId) ?? [], hooks: hooks.get(userId) ?? [] };
      const payload = JSON.stringify({ notification: contentOf(n) } satisfies JobPayload);
      const job = (
        channel: NewJob['channel'],
        target: string,
        notBefore: number,
        nid = n.id,
      ): NewJob => ({
        id: jobId(channel, nid, target),
        channel,
        userId,
        notificationId: nid,
        target,
        notBefore,
        payload,
      });
      for (const r of routes) {
        if (r.channel === 'push') for (const s of t.subs) jobs.push(job('push', s.id, r.notBefore));
        if (r.channel === 'webhook')
          for (const h of t.hooks) jobs.push(job('webhook', h.id, r.notBefore));
        if (r.channel === 'email' && this.email && p?.email) {
          if (!r.digest) {
            jobs.push(job('email', p.email, r.notBefore));
            continue;
          }
          jobs.push({
            id: jobId('digest', `${userId}:${r.digest.key}`, p.email),
            channel: 'digest',
            userId,
            notificationId: r.digest.key,
            target: p.email,
            notBefore: r.notBefore,
            payload: JSON.stringify({
              digest: { period: r.digest.period, since: r.digest.start, until: r.digest.end },
            } satisfies JobPayload),
          });
        }
      }
    }
    if (jobs.length === 0) return;
    const fresh = new Set(await this.store.enqueue(jobs, now));
    for (const j of jobs) {
      if (!fresh.has(j.id)) continue;
      const cat =
        j.channel === 'digest' ? undefined : mine.find((n) => n.id === j.notificationId)?.category;
      this.analytics.count(cat, j.channel, 'sent', now);
    }
    if (jobs.some((j) => j.notBefore <= now)) this.kick();
  }

  /** Seen, read and acknowledged notifications, for the analytics (with time to read). */
  async changed(scope: InboxScope, ids: readonly string[], change: StateChange): Promise<void> {
    const counter =
      change.kind === 'read'
        ? 'read'
        : change.kind === 'seen'
          ? 'seen'
          : change.kind === 'ack'
            ? 'acked'
            : undefined;
    if (!counter || ids.length === 0) return;
    const now = Date.now();
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = await this.inbox.list(scope, { ids: part }, part.length, undefined);
      for (const n of rows) {
        this.analytics.count(
          n.category,
          'in_app',
          counter,
          now,
          1,
          counter === 'read' ? Math.max(0, now - n.createdAt) : 0,
        );
      }
    }
  }

  // ------------------------------------------------------------------------------ the outbox

  /** Runs a pass over due jobs now (and once more if one is running). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: unknown) => this.log.warn({ err }, 'delivery pass failed; will retry'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when no pass is running (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async pass(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const jobs = await this.store.claim(this.owner, now, now + this.leaseMs, BATCH);
      if (jobs.length === 0) return;
      let next = 0;
      const worker = async () => {
        while (next < jobs.length) await this.run(jobs[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker));
      if (jobs.length < BATCH || this.closed) return;
    }
  }

  /** Backoff of the n-th retry: base × 2^n, capped, with ±20% jitter so retries spread. */
  private backoff(attempts: number): number {
    const c = this.config;
    const d = Math.min(c.deliveryRetryMaxSec * 1000, c.deliveryRetryBaseMs * 2 ** attempts);
    return Math.round(d * (0.8 + Math.random() * 0.4));
  }

  private async run(job: Job): Promise<void> {
    let a: Attempt;
    try {
      a = await this.attempt(job);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      a =
        err instanceof RefusedAddressError ? { kind: 'failed', reason } : { kind: 'retry', reason };
    }
    const now = Date.now();
    const category = (JSON.parse(job.payload) as JobPayload).notification?.category;
    try {
      switch (a.kind) {
        case 'sent':
          if (await this.store.complete(job.id, this.owner, now)) {
            this.analytics.count(category, job.channel, 'delivered', now);
          }
          return;
        case 'skipped':
          await this.store.skip(job.id, this.owner, a.reason, now);
          return;
        case 'gone':
          if (job.channel === 'push') await this.store.deleteSubscription(job.userId, job.target);
          await this.fail(job, a.reason, category, now);
          return;
        case 'failed':
          await this.fail(job, a.reason, category, now);
          return;
        case 'retry':
          if (job.attempts + 1 >= this.config.deliveryMaxAttempts) {
            await this.fail(
              job,
              `${a.reason} (gave up after ${job.attempts + 1} tries)`,
              category,
              now,
            );
          } else {
            await this.store.retry(
              job.id,
              this.owner,
              now + this.backoff(job.attempts),
              a.reason,
              now,
            );
          }
      }
    } catch (err) {
      // The lease runs out and another pass takes the job again: at least once, never lost.
      this.log.warn({ err, job: job.id }, 'delivery state not saved; the job will be retried');
    }
  }

  private async fail(
    job: Job,
    reason: string,
    category: string | undefined,
    now: number,
  ): Promise<void> {
    if (await this.store.fail(job.id, this.owner, reason, now)) {
      this.analytics.count(category, job.channel, 'failed', now);
      this.log.info({ job: job.id, reason }, 'delivery failed');
    }
  }

  private async attempt(job: Job): Promise<Attempt> {
    const payload = JSON.parse(job.payload) as JobPayload;
    const scope: InboxScope = { kind: 'user', userId: job.userId };
    if (job.channel === 'digest') {
      if (!this.email) return { kind: 'skipped', reason: 'email is not configured' };
      const d = payload.digest!;
      const unread = await this.inbox.list(
        scope,
        { read: false, archived: false, since: d.since, until: d.until },
        DIGEST_MAX,
        undefined,
      );
      if (unread.length === 0) return { kind: 'skipped', reason: 'nothing unread in the period' };
      const content = await renderDigest(
        (n) => this.inbox.getTemplate(n),
        d.period,
        unread.map(contentOf),
      );
      return this.email.send(job.target, job.id, content);
    }
    const n = payload.notification!;
    // Read (or gone) in-app before its turn came: never also sent elsewhere.
    const current = await this.inbox.get(scope, n.id);
    if (!current) return { kind: 'skipped', reason: 'notification deleted or expired' };
    if (current.readAt !== null) return { kind: 'skipped', reason: 'read in-app' };
    if (current.archivedAt !== null) return { kind: 'skipped', reason: 'archived' };
    switch (job.channel) {
      case 'email': {
        if (!this.email) return { kind: 'skipped', reason: 'email is not configured' };
        const content = await renderEmail((name) => this.inbox.getTemplate(name), n);
        return this.email.send(job.target, job.id, content);
      }
      case 'push': {
        const sub = await this.store.subscription(job.target);
        if (!sub || sub.userId !== job.userId)
          return { kind: 'skipped', reason: 'push subscription removed' };
        return this.push.send(sub, {
          id: n.id,
          title: n.title,
          body: n.body,
          url: n.url,
          category: n.category,
          priority: n.priority,
          createdAt: new Date(n.createdAt).toISOString(),
        });
      }
      case 'webhook': {
        const hook = await this.store.webhook(job.target);
        if (!hook || hook.userId !== job.userId)
          return { kind: 'skipped', reason: 'webhook removed' };
        return this.webhook.send(
          hook.url,
          hook.secret,
          job.id,
          {
            type: 'notification',
            deliveryId: job.id,
            userId: job.userId,
            notification: Object.assign({}, n, {
              createdAt: new Date(n.createdAt).toISOString(),
              data: n.data === undefined ? undefined : (JSON.parse(n.data) as unknown),
            }),
          },
          Date.now(),
        );
      }
    }
  }

  // ------------------------------------------------------------------------------ subscriptions

  async subscribe(
    userId: string,
    s: { endpoint: string; p256dh: string; auth: string },
  ): Promise<PushSubscription> {
    const url = new URL(s.endpoint);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Push services speak HTTPS; plain HTTP only to an allow-listed address (a test push service).
    if (
      url.protocol !== 'https:' &&
      !(
        url.protocol === 'http:' &&
        !isRefusedAddress(host, this.allow) &&
        this.allow.check(host, host.includes(':') ? 'ipv6' : 'ipv4')
      )
    ) {
      throw new HeraldError(
        'HERALD_ERR_PUSH_SUBSCRIPTION_INVALID',
        '"endpoint" must be an https URL',
      );
    }
    const sub: PushSubscription = {
      id: createHash('sha256').update(s.endpoint).digest('base64url').slice(0, 32),
      userId,
      endpoint: s.endpoint,
      p256dh: s.p256dh,
      auth: s.auth,
      createdAt: Date.now(),
    };
    await this.store.putSubscription(sub);
    return sub;
  }

  unsubscribe(userId: string, idOrEndpoint: string): Promise<boolean> {
    const id = idOrEndpoint.includes('/')
      ? createHash('sha256').update(idOrEndpoint).digest('base64url').slice(0, 32)
      : idOrEndpoint;
    return this.store.deleteSubscription(userId, id);
  }

  subscriptions(userId: string): Promise<PushSubscription[]> {
    return this.store.subscriptions(userId);
  }

  // ------------------------------------------------------------------------------ webhooks

  /** Checks the URL now (its addresses after DNS) as well as on every delivery. */
  async addWebhook(userId: string, url: string): Promise<Webhook> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"url" is not a URL');
    }
    if (
      (u.protocol !== 'https:' && u.protocol !== 'http:') ||
      url.length > 2048 ||
      u.username ||
      u.password
    ) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        '"url" must be an http(s) URL without credentials',
      );
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const addresses = await lookup(host, { all: true }).catch(() => []);
    if (addresses.length === 0)
      throw new HeraldError('HERALD_ERR_WEBHOOK_URL_REFUSED', `${host} does not resolve`);
    const bad = addresses.find((a) => isRefusedAddress(a.address, this.allow));
    if (bad)
      throw new HeraldError('HERALD_ERR_WEBHOOK_URL_REFUSED', `${host} resolves to ${bad.address}`);
    const hook: Webhook = {
      id: randomUUID(),
      userId,
      url: u.href,
      secret: newWebhookSecret(),
      createdAt: Date.now(),
    };
    await this.store.putWebhook(hook);
    return hook;
  }

  deleteWebhook(userId: string, id: string): Promise<boolean> {
    return this.store.deleteWebhook(userId, id);
  }

  webhooks(userId: string): Promise<Webhook[]> {
    return this.store.webhooks(userId);
  }

  // ------------------------------------------------------------------------------ preferences

  async preferences(userId: string): Promise<DeliveryPreferences> {
    return (await this.store.preferences([userId])).get(userId) ?? DEFAULT_DELIVERY_PREFERENCES;
  }

  async putPreferences(userId: string, prefs: DeliveryPreferences): Promise<DeliveryPreferences> {
    await this.store.putPreferences(userId, prefs, Date.now());
    return prefs;
  }

  // ------------------------------------------------------------------------------ admin

  jobs(filter: JobFilter, limit: number): Promise<Job[]> {
    return this.store.list(filter, limit);
  }

  async stats(
    since: number,
    until: number,
  ): Promise<{ rollups: StatRow[]; jobs: Awaited<ReturnType<DeliveryStore['jobCounts']>> }> {
    await this.analytics.flush().catch(() => undefined);
    const [rollups, jobs] = await Promise.all([
      this.store.stats(since, until),
      this.store.jobCounts(),
    ]);
    return { rollups, jobs };
  }
}
