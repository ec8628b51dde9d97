import { HeraldError } from '../errors.js';
import { newTimeOrderedId } from '../hub/event-id.js';
import type { Hub, PublishInput, PublishedEvent } from '../hub/hub.js';
import {
  type PublishPlan,
  planKey,
  plannedEventId,
  plannedNotificationId,
} from '../hub/publish-plan.js';
import type { Logger } from '../logger.js';
import {
  EVERYONE,
  scopeOwner,
  type AppliedSend,
  type CreateOutcome,
  type CreateResult,
  type InboxFilter,
  type InboxRetention,
  type InboxScope,
  type InboxStore,
  type InboxSummary,
  type NewNotification,
  type NotificationContent,
  type PagePosition,
  type Preferences,
  type Priority,
  type SendMark,
  type Severity,
  type StateChange,
  type StoredNotification,
  type StoredTemplate,
  type TemplateSpec,
} from './inbox-store.js';
import { GroupCommit } from '../group-commit.js';
import { SummaryFeed } from './summary-feed.js';
import { checkTemplate, isHttpUrl, renderTemplate } from './template.js';
import { iso, notificationEventData } from './view.js';

/** The owner of notifications to everyone (the routes name it through the service). */
export { EVERYONE };

/** The channel notifications to everyone go live on (`POST /broadcast` without users). */
export const EVERYONE_CHANNEL = 'broadcast';

export interface InboxServiceOptions {
  readonly store: InboxStore;
  readonly hub: Hub;
  readonly log: Logger;
  /** The channel EVERYONE notifications go live on (`broadcast`). */
  readonly everyoneChannel: string;
  /** Default dedup window when a send gives a dedupKey without dedupWindowSec. */
  readonly dedupWindowMs: number;
  /** Period of the one timer that delivers due scheduled notifications. */
  readonly schedulerIntervalMs: number;
  readonly retention: InboxRetention;
  readonly retentionIntervalMs: number;
}

/**
 * Told of what the inbox did, after it is stored and announced (external delivery observes
 * the inbox this way). A failing observer is logged; the inbox's own answer stands.
 */
export interface InboxObserver {
  /** Notifications of a user that just became visible (created, or delivered when scheduled). */
  delivered(rows: readonly StoredNotification[]): Promise<void>;
  /** A state change of these ids in `scope`. */
  changed(scope: InboxScope, ids: readonly string[], change: StateChange): Promise<void>;
}

/** What to send: literal text, or a template and its variables. */
export interface SendContent {
  readonly title?: string | undefined;
  readonly body?: string | undefined;
  readonly template?: { readonly name: string; readonly variables: Map<string, string> };
  readonly category?: string | undefined;
  readonly priority?: Priority | undefined;
  readonly severity?: Severity | undefined;
  readonly url?: string | undefined;
  /** JSON text of `data`. */
  readonly data?: string | undefined;
  readonly expiresAt?: number | undefined;
}

export type SendOptions = Pick<
  NewNotification,
  'deliverAt' | 'collapseKey' | 'dedupKey' | 'dedupWindowMs' | 'eventType' | 'durable'
>;

export interface SendOutcome {
  readonly id: string;
  readonly userId?: string;
  readonly channel?: string;
  readonly everyone?: true;
  readonly status: CreateOutcome;
  readonly muted: boolean;
  readonly collapsedCount?: number;
  readonly deliverAt?: string;
}

export interface SendResult {
  /** One notification id per recipient (for `deduplicated`, the earlier one's). */
  readonly ids: string[];
  /** The live events published (none for scheduled, muted or deduplicated ones). */
  readonly events: PublishedEvent[];
  readonly notifications: SendOutcome[];
}

/** Ids per state-change event: a "read all" of a large inbox becomes several small events. */
const IDS_PER_EVENT = 500;
/** How long a node holds due scheduled rows before another node may deliver them. */
const DELIVERY_LEASE_MS = 60_000;
/** Due rows claimed per query. */
const DELIVERY_BATCH = 200;

const RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2, critical: 3 };

/** Preferences hold back the live push; `critical` always passes. */
export function isMuted(
  prefs: Preferences | undefined,
  n: { priority: Priority; category?: string | undefined },
): boolean {
  if (!prefs || n.priority === 'critical') return false;
  if (n.category !== undefined && prefs.mutedCategories.includes(n.category)) return true;
  return RANK[n.priority] < RANK[prefs.minPriority];
}

function userOf(owner: string): string | undefined {
  return owner.startsWith('user:') ? owner.slice('user:'.length) : undefined;
}

/** The scope whose own rows an owner's are (EVERYONE rows belong to the `everyone` scope). */
function scopeOf(owner: string): InboxScope {
  const user = userOf(owner);
  if (user !== undefined) return { kind: 'user', userId: user };
  if (owner === EVERYONE) return { kind: 'everyone' };
  return { kind: 'feed', channel: owner };
}

/** A send waiting for its group (see `InboxService.sendGroup`). */
interface QueuedSend {
  readonly owners: readonly string[];
  readonly content: NotificationContent;
  readonly options: SendOptions;
  /** When it was asked for: its rows' `createdAt` (its plan's time under a plan). */
  readonly now: number;
  readonly scheduled: boolean;
  /** Under an Idempotency-Key: the plan that names its rows and events (see `send`). */
  readonly plan: PublishPlan | undefined;
}

/**
 * Where an item of a planned send comes from: the plan, and the item's place among that
 * send's owners (an item of an unplanned send has none).
 */
interface ItemOrigin {
  readonly plan: PublishPlan;
  readonly index: number;
}

/** One send's answer, from its rows' results and its live events. */
/**
 * While sends come less than 1 ms after the previous group started, a group waits 1 ms
 * for company instead of running at the end of the turn: at a few thousand single sends a
 * second a turn holds one or two of them, and each group pays for one commit, a dozen
 * statements and a round of delivery routing whatever its size. A send that comes alone
 * does not wait; a group of 64 (a publisher pool's worth) runs at once.
 */
const SEND_GROUPS = { windowMs: 1, maxInputs: 64 };

/** Content without a template: the defaults applied. */
function plainContent(content: SendContent): NotificationContent {
  if (content.title === undefined || content.body === undefined) {
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"title" and "message" are required');
  }
  return {
    data: content.data,
    expiresAt: content.expiresAt,
    title: content.title,
    body: content.body,
    category: content.category,
    priority: content.priority ?? 'normal',
    severity: content.severity,
    url: content.url,
  };
}

function sendResult(results: readonly CreateResult[], events: PublishedEvent[]): SendResult {
  return {
    ids: results.map((r) => r.notification.id),
    events,
    notifications: results.map((r) => {
      const n = r.notification;
      const out: SendOutcome = {
        id: n.id,
        ...recipientFields(n.owner),
        status: r.outcome,
        muted: n.muted,
        ...(r.outcome === 'collapsed' ? { collapsedCount: n.collapsedCount } : {}),
        ...(n.status === 'scheduled' && n.deliverAt !== undefined
          ? { deliverAt: iso(n.deliverAt) }
          : {}),
      };
      return out;
    }),
  };
}

function recipientFields(owner: string): Pick<SendOutcome, 'userId' | 'channel' | 'everyone'> {
  const user = userOf(owner);
  if (user !== undefined) return { userId: user };
  if (owner === EVERYONE) return { everyone: true };
  return { channel: owner };
}

/**
 * The inbox: stores every notification per recipient (InboxStore), and publishes every
 * change on the owner's channel through `hub.publish`, so every tab and device of a user
 * converges and a reconnect catches up through the ordinary stream cursor:
 * `notification`, `notification.updated` (collapse), `notification.read`,
 * `notification.seen`, `notification.acked`, `notification.archived`,
 * `notification.deleted`, then a `summary`. It also owns two shared timers: one delivers
 * due scheduled notifications, one applies retention.
 */
export class InboxService {
  readonly store: InboxStore;
  private readonly hub: Hub;
  private readonly log: Logger;
  private readonly options: InboxServiceOptions;
  private readonly summaries: SummaryFeed;
  private readonly sends = new GroupCommit<QueuedSend, SendResult>(
    (group) => this.sendGroup(group),
    SEND_GROUPS,
  );
  private timers: NodeJS.Timeout[] = [];
  private delivering: Promise<void> | undefined;
  private trimming: Promise<void> | undefined;
  private closed = false;
  private observer: InboxObserver | undefined;

  constructor(options: InboxServiceOptions) {
    this.options = options;
    this.store = options.store;
    this.hub = options.hub;
    this.log = options.log;
    this.summaries = new SummaryFeed((owners) => this.publishSummaries(owners));
  }

  async init(): Promise<void> {
    await this.store.init();
  }

  /** Starts the scheduler (delivering anything that fell due while the server was down) and retention. */
  start(): void {
    const deliver = setInterval(() => this.deliverDueNow(), this.options.schedulerIntervalMs);
    const trim = setInterval(() => this.trimNow(), this.options.retentionIntervalMs);
    deliver.unref();
    trim.unref();
    this.timers = [deliver, trim];
    this.deliverDueNow();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.allSettled([this.delivering, this.trimming]);
    await this.summaries.idle();
  }

  /** Sets the one observer of created and changed notifications. */
  observe(observer: InboxObserver): void {
    this.observer = observer;
  }

  private async tell(what: string, call: (o: InboxObserver) => Promise<void>): Promise<void> {
    if (!this.observer) return;
    await call(this.observer).catch((err: unknown) => this.log.warn({ err }, `${what} failed`));
  }

  /** The channel an owner's changes are published on. */
  liveChannel(owner: string): string {
    return owner === EVERYONE ? this.options.everyoneChannel : owner;
  }

  // ------------------------------------------------------------------------------ sending

  /**
   * Stores a notification for each owner, then publishes what changed. Concurrent sends are
   * committed as a group (`sendGroup`); the answer comes after the commit.
   *
   * Under an Idempotency-Key the send follows the claim's `plan`: its rows and events take the
   * plan's time and ids made from it, and a mark of what it did (`InboxStore.create` with
   * marks) commits with its rows. A retry that took over the claim of a node that died
   * (`plan.resumed`) first looks for that mark: found, it answers from it and stores nothing
   * twice (`replayApplied`); not found, the first attempt stored nothing and the send runs.
   */
  async send(
    owners: readonly string[],
    content: SendContent,
    options: SendOptions,
    plan?: PublishPlan,
  ): Promise<SendResult> {
    const now = plan?.ts ?? Date.now();
    const c = content.template ? await this.render(content) : plainContent(content);
    if (options.collapseKey !== undefined && owners.includes(EVERYONE)) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        '"collapseKey" needs recipients with their own state (users or a channel), not everyone',
      );
    }
    if (c.expiresAt !== undefined && c.expiresAt <= Math.max(now, options.deliverAt ?? 0)) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"expiresAt" must be after delivery');
    }
    const scheduled = options.deliverAt !== undefined && options.deliverAt > now;
    const queued: QueuedSend = { owners, content: c, options, now, scheduled, plan };
    if (plan?.resumed) {
      const key = planKey(plan);
      const applied = (await this.store.appliedSends([key])).get(key);
      if (applied) return this.replayApplied(queued, plan, applied);
    }
    return this.sends.add(queued);
  }

  /**
   * Answers a send that an attempt which died had applied, from its mark: the rows it stored
   * or changed, and its live events, published again with their planned ids and time, so the
   * store finds those it had committed (with their sequences) and stores only those it had
   * not (PostgreSQL commits the rows before appending the events). Delivery routing is asked
   * again: its jobs are keyed by notification, so nothing goes out twice. Rows deleted since
   * are answered from the mark alone.
   */
  private async replayApplied(
    q: QueuedSend,
    plan: PublishPlan,
    applied: AppliedSend,
  ): Promise<SendResult> {
    const rows = new Map((await this.store.byIds(applied.map((a) => a.id))).map((n) => [n.id, n]));
    const results: CreateResult[] = [];
    const origins: ItemOrigin[] = [];
    applied.forEach((a, index) => {
      const n = rows.get(a.id);
      if (!n) return;
      results.push({ outcome: a.outcome, notification: n });
      origins.push({ plan, index });
    });
    const live = this.liveEvents(results, origins);
    const events = live.inputs.length > 0 ? await this.hub.republish(live.inputs) : [];
    // Counted in the transaction that stored the rows when the store can; else after it.
    if (!this.store.summariesNow) await this.refreshSummaries(live.changed);
    const created = results.filter((r) => r.outcome === 'created').map((r) => r.notification);
    if (created.length > 0) await this.tell('delivery routing', (o) => o.delivered(created));
    const answer = sendResult(
      results,
      live.index.flatMap((i) => (i === undefined ? [] : [events[i]!])),
    );
    const outcome = new Map(answer.notifications.map((n) => [n.id, n]));
    return {
      ids: applied.map((a) => a.id),
      events: answer.events,
      notifications: applied.map(
        (a, index): SendOutcome =>
          outcome.get(a.id) ?? {
            id: a.id,
            ...recipientFields(q.owners[index] ?? ''),
            status: a.outcome,
            muted: false,
          },
      ),
    };
  }

  /**
   * One group of sends: one preference read, then their rows, their live events and the
   * summaries of every owner they changed, stored in one transaction when the store can
   * (SQLite: `createNow` inside `hub.publishWith`), else their rows in one transaction and
   * their events in one append. Delivery routing hears of the group once.
   */
  private async sendGroup(sends: readonly QueuedSend[]): Promise<SendResult[]> {
    const now = Date.now();
    // Preferences of a scheduled one are read when it is delivered, not now.
    const users = new Set<string>();
    for (const q of sends) {
      if (q.scheduled) continue;
      for (const o of q.owners) {
        const u = userOf(o);
        if (u !== undefined) users.add(u);
      }
    }
    const prefs: Map<string, Preferences> =
      users.size === 0 ? new Map<string, Preferences>() : await this.store.preferences([...users]);
    const items: NewNotification[] = [];
    /** Per item: its origin when its send is planned (none on the hot path). */
    const origins: (ItemOrigin | undefined)[] = [];
    const marks: SendMark[] = [];
    for (const q of sends) {
      if (q.plan) marks.push({ key: planKey(q.plan), from: items.length, count: q.owners.length });
      for (let index = 0; index < q.owners.length; index++) {
        const owner = q.owners[index]!;
        const user = userOf(owner);
        // The content last: a literal that starts with a spread and adds properties after it
        // costs about 1 us per property in V8 (each goes through the runtime), here 11.
        items.push({
          id: q.plan ? plannedNotificationId(q.plan, index) : newTimeOrderedId(q.now),
          owner,
          createdAt: q.now,
          deliverAt: q.scheduled ? q.options.deliverAt : undefined,
          collapseKey: q.options.collapseKey,
          dedupKey: q.options.dedupKey,
          dedupWindowMs: q.options.dedupWindowMs ?? this.options.dedupWindowMs,
          eventType: q.options.eventType,
          durable: q.options.durable,
          muted: user !== undefined && isMuted(prefs.get(user), q.content),
          ...q.content,
        });
        origins.push(q.plan && { plan: q.plan, index });
      }
    }
    const createNow = this.store.createNow?.bind(this.store);
    const summariesNow = this.store.summariesNow?.bind(this.store);
    let results: CreateResult[];
    /** The live event of each result, if it has one. */
    let eventOf: (PublishedEvent | undefined)[];
    if (createNow && summariesNow) {
      const done = await this.hub.publishWith(() => {
        const created = createNow(items, now, marks);
        const live = this.liveEvents(created, origins);
        // Counted in the transaction that stores the rows: exact, and in commit order.
        const owners = [...live.changed];
        const sums = summariesNow(owners.map(scopeOf), now);
        return {
          value: { created, live },
          inputs: [...live.inputs, ...this.summaryInputs(owners, sums)],
        };
      });
      results = done.value.created;
      eventOf = done.value.live.index.map((i) => (i === undefined ? undefined : done.events[i]));
    } else {
      results = await this.store.create(items, now, marks);
      const live = this.liveEvents(results, origins);
      const events = live.inputs.length > 0 ? await this.hub.publish(live.inputs) : [];
      await this.refreshSummaries(live.changed);
      eventOf = live.index.map((i) => (i === undefined ? undefined : events[i]));
    }
    const created = results.filter((r) => r.outcome === 'created').map((r) => r.notification);
    if (created.length > 0) await this.tell('delivery routing', (o) => o.delivered(created));
    let at = 0;
    return sends.map((q) => {
      const mine = results.slice(at, at + q.owners.length);
      const events = eventOf.slice(at, at + q.owners.length).filter((e) => e !== undefined);
      at += q.owners.length;
      return sendResult(mine, events);
    });
  }

  /**
   * The live event of each created or collapsed row that is not muted, and the owners
   * changed. The event of an item of a planned send takes the plan's time, and an id the plan
   * names (a created row's event has the row's id, already planned).
   */
  private liveEvents(
    results: readonly CreateResult[],
    origins: readonly (ItemOrigin | undefined)[],
  ): {
    inputs: PublishInput[];
    /** Per result: the index of its event in `inputs`, if it has one. */
    index: (number | undefined)[];
    changed: Set<string>;
  } {
    const inputs: PublishInput[] = [];
    const index: (number | undefined)[] = [];
    const changed = new Set<string>();
    results.forEach((r, at) => {
      const n = r.notification;
      index.push(undefined);
      if (r.outcome !== 'created' && r.outcome !== 'collapsed') return;
      if (n.owner !== EVERYONE) changed.add(n.owner);
      if (n.muted) return;
      index[index.length - 1] = inputs.length;
      const origin = origins[at];
      const channel = this.liveChannel(n.owner);
      const data = notificationEventData(n);
      const ts = origin?.plan.ts;
      inputs.push(
        r.outcome === 'created'
          ? { id: n.id, channel, type: n.eventType, data, durable: n.durable, ts }
          : {
              id: origin && plannedEventId(origin.plan, origin.index),
              channel,
              type: 'notification.updated',
              data,
              durable: true,
              ts,
            },
      );
    });
    return { inputs, index, changed };
  }

  /** Renders a template and applies defaults; checks what a template could have broken. */
  private async render(content: SendContent): Promise<NotificationContent> {
    if (!content.template) return plainContent(content);
    const t = await this.store.getTemplate(content.template.name);
    if (!t) throw new HeraldError('HERALD_ERR_TEMPLATE_NOT_FOUND', content.template.name);
    const r = renderTemplate(t, content.template.variables);
    if (r.title.length === 0 || r.title.length > 200) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'the rendered title must be 1-200 characters',
      );
    }
    if (r.body.length === 0 || r.body.length > 10_000) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'the rendered message must be 1-10000 characters',
      );
    }
    const url = content.url ?? r.url;
    if (url !== undefined && !isHttpUrl(url)) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'the rendered "url" is not an http(s) URL');
    }
    return {
      data: content.data,
      expiresAt: content.expiresAt,
      title: r.title,
      body: r.body,
      url,
      category: content.category ?? t.category,
      priority: content.priority ?? t.priority ?? 'normal',
      severity: content.severity ?? t.severity,
      template: t.name,
    };
  }

  // ------------------------------------------------------------------------------ reading

  list(
    scope: InboxScope,
    filter: InboxFilter,
    limit: number,
    before: PagePosition | undefined,
  ): Promise<StoredNotification[]> {
    return this.store.list(scope, filter, limit, before, Date.now());
  }

  async get(
    scope: InboxScope,
    id: string,
    status?: 'any',
  ): Promise<StoredNotification | undefined> {
    const [n] = await this.store.list(
      scope,
      { ids: [id], ...(status ? { status } : {}) },
      1,
      undefined,
      Date.now(),
    );
    return n;
  }

  async summary(scope: InboxScope): Promise<InboxSummary> {
    const [s] = await this.store.summaries([scope], Date.now());
    if (!s) throw new Error('summary missing');
    return s;
  }

  /** Owner and status of a notification id, if it exists and has not expired. */
  locate(id: string): ReturnType<InboxStore['locate']> {
    return this.store.locate(id, Date.now());
  }

  // ------------------------------------------------------------------------------ changing

  /** Applies a state change; publishes it and a new summary. Returns the ids that changed. */
  async mark(scope: InboxScope, filter: InboxFilter, change: StateChange): Promise<string[]> {
    const now = Date.now();
    const ids = await this.store.mark(scope, filter, change, now);
    if (ids.length === 0) return ids;
    const at = iso(now);
    const [type, fields] = ((): [string, Record<string, unknown>] => {
      switch (change.kind) {
        case 'read':
          return ['notification.read', { read: true, readAt: at }];
        case 'unread':
          return ['notification.read', { read: false, readAt: null }];
        case 'seen':
          return ['notification.seen', { seenAt: at }];
        case 'ack':
          return ['notification.acked', { ackedAt: at, ackedBy: change.by }];
        case 'archive':
          return ['notification.archived', { archived: true, archivedAt: at }];
        case 'unarchive':
          return ['notification.archived', { archived: false, archivedAt: null }];
      }
    })();
    await this.publishChange(scope, type, ids, fields);
    await this.tell('delivery analytics', (o) => o.changed(scope, ids, change));
    return ids;
  }

  /** Deletes notifications; publishes `notification.deleted` and a new summary. */
  async remove(scope: InboxScope, filter: InboxFilter): Promise<string[]> {
    const ids = await this.store.remove(scope, filter, Date.now());
    if (ids.length > 0) await this.publishChange(scope, 'notification.deleted', ids, {});
    return ids;
  }

  private async publishChange(
    scope: InboxScope,
    type: string,
    ids: readonly string[],
    fields: Record<string, unknown>,
  ): Promise<void> {
    const owner = scopeOwner(scope);
    const channel = this.liveChannel(owner);
    const inputs: PublishInput[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_EVENT) {
      const part = ids.slice(i, i + IDS_PER_EVENT);
      inputs.push({ channel, type, data: JSON.stringify({ ids: part, ...fields }), durable: true });
    }
    await this.hub.publish(inputs);
    if (owner !== EVERYONE) await this.refreshSummaries([owner]);
  }

  /**
   * Publishes new summaries. The change itself is already stored and announced; a summary
   * that cannot be published is logged, and the next change (or GET /notifications/summary)
   * brings the counts back.
   */
  private async refreshSummaries(owners: Iterable<string>): Promise<void> {
    await this.summaries.refresh(owners).catch((err: unknown) => {
      this.log.warn({ err }, 'inbox summary publish failed');
    });
  }

  /**
   * Where the store counts synchronously (SQLite), the counts are read inside the
   * transaction that appends them, as a send's are: every summary on a channel is then exact
   * at its place in the channel's order, and the last one is the newest state.
   */
  private async publishSummaries(owners: string[]): Promise<void> {
    const summariesNow = this.store.summariesNow?.bind(this.store);
    if (summariesNow) {
      await this.hub.publishWith(() => ({
        value: undefined,
        inputs: this.summaryInputs(owners, summariesNow(owners.map(scopeOf), Date.now())),
      }));
      return;
    }
    const sums = await this.store.summaries(owners.map(scopeOf), Date.now());
    await this.hub.publish(this.summaryInputs(owners, sums));
  }

  private summaryInputs(owners: readonly string[], sums: readonly InboxSummary[]): PublishInput[] {
    return owners.map((owner, i) => ({
      channel: this.liveChannel(owner),
      type: 'summary',
      data: JSON.stringify(sums[i]),
      durable: true,
    }));
  }

  // ------------------------------------------------------------------------------ scheduling

  /** Delivers due scheduled notifications now (the shared timer calls this). */
  deliverDueNow(): void {
    if (this.delivering || this.closed) return;
    this.delivering = this.deliverDue()
      .catch((err: unknown) => this.log.warn({ err }, 'scheduled delivery failed; will retry'))
      .finally(() => (this.delivering = undefined));
  }

  /** Resolves when the current delivery pass (if any) is over. */
  async deliveryIdle(): Promise<void> {
    await this.delivering;
  }

  /**
   * At least once: the live event is published before the row is marked delivered, so a
   * node that dies in between leaves the row claimed, and after the lease another delivery
   * publishes it again (clients de-duplicate by notification id).
   */
  private async deliverDue(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const due = await this.store.claimDue(now, DELIVERY_LEASE_MS, DELIVERY_BATCH);
      if (due.length === 0) return;
      const users = due.flatMap((n) => {
        const u = userOf(n.owner);
        return u === undefined ? [] : [u];
      });
      const prefs: Map<string, Preferences> =
        users.length > 0 ? await this.store.preferences(users) : new Map<string, Preferences>();
      const delivered = due.map((n) => {
        const user = userOf(n.owner);
        const muted = user !== undefined && isMuted(prefs.get(user), n);
        return Object.assign({}, n, {
          status: 'delivered' as const,
          createdAt: now,
          updatedAt: now,
          muted,
        });
      });
      const inputs: PublishInput[] = delivered
        .filter((n) => !n.muted)
        .map((n) => ({
          id: n.id,
          channel: this.liveChannel(n.owner),
          type: n.eventType,
          data: notificationEventData(n),
          durable: n.durable,
        }));
      if (inputs.length > 0) await this.hub.publish(inputs);
      await this.store.markDelivered(
        delivered.map((n) => ({ id: n.id, muted: n.muted })),
        now,
      );
      await this.refreshSummaries(due.map((n) => n.owner).filter((o) => o !== EVERYONE));
      await this.tell('delivery routing', (o) => o.delivered(delivered));
      if (due.length < DELIVERY_BATCH || this.closed) return;
    }
  }

  // ------------------------------------------------------------------------------ retention

  trimNow(): void {
    if (this.trimming || this.closed) return;
    this.trimming = this.store
      .trim(this.options.retention, Date.now())
      .then((n) => {
        if (n > 0) this.log.info({ deleted: n }, 'inbox retention sweep');
      })
      .catch((err: unknown) => this.log.warn({ err }, 'inbox retention sweep failed'))
      .finally(() => (this.trimming = undefined));
  }

  // ------------------------------------------------------------------------------ templates

  async putTemplate(name: string, spec: TemplateSpec): Promise<StoredTemplate> {
    checkTemplate(spec);
    return this.store.putTemplate(name, spec, Date.now());
  }

  getTemplate(name: string): Promise<StoredTemplate | undefined> {
    return this.store.getTemplate(name);
  }

  listTemplates(): Promise<StoredTemplate[]> {
    return this.store.listTemplates();
  }

  deleteTemplate(name: string): Promise<boolean> {
    return this.store.deleteTemplate(name);
  }

  // ------------------------------------------------------------------------------ preferences

  async preferences(userId: string): Promise<Preferences> {
    const prefs = await this.store.preferences([userId]);
    return prefs.get(userId) ?? { mutedCategories: [], minPriority: 'low' };
  }

  async putPreferences(userId: string, prefs: Preferences): Promise<Preferences> {
    await this.store.putPreferences(userId, prefs, Date.now());
    return prefs;
  }
}
