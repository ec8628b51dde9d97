/**
 * The InboxStore keeps notifications with their per-recipient state, templates and
 * preferences. It is a seam of its own, beside the event `Store`: the backends share the
 * event store's database (the SQLite file, the PostgreSQL pool) but not its tables.
 *
 * Contract (every backend runs `test/inbox-contract.ts`):
 * - Owners. A notification belongs to one owner: `user:{id}` (a user's inbox, state per
 *   row), a shared feed channel such as `alerts` (one state every reader shares), or
 *   `EVERYONE` (stored once; each user's state lives in a separate row created lazily the
 *   first time that user changes it, so sending to a million users costs one row).
 * - Scopes. Reads and changes name a scope. A `user` scope sees the user's own rows plus
 *   every EVERYONE row, with that user's state; a `feed` scope sees the feed's rows; the
 *   `everyone` scope sees EVERYONE rows without any user's state. Nothing outside the scope
 *   is ever returned or changed: an id of another owner behaves exactly like an unknown id.
 * - Visibility. Unless a filter asks for `status`, only delivered rows are seen; rows whose
 *   `expiresAt` has passed are never seen, and a user's deleted EVERYONE rows neither.
 * - Order. Lists are newest first by (`createdAt`, `id`); `before` continues after a row,
 *   so paging is stable while new rows arrive.
 * - Storms. `create` applies, per item and atomically with concurrent creates (several
 *   nodes): a `dedupKey` seen for the same owner within `dedupWindowMs` drops the item
 *   (`deduplicated`, answering the existing row); else a `collapseKey` matching a delivered,
 *   unread, unarchived row of the owner replaces that row's content in place
 *   (`collapsed`, `collapsedCount` + 1); else the row is inserted (`created`, or
 *   `scheduled` when `deliverAt` is in the future).
 * - Changes. `mark` and `remove` return the ids whose state actually changed (marking a
 *   read row read again returns nothing), so callers publish one event per real change.
 * - Scheduling. `claimDue` leases due scheduled rows (a claim expires after `leaseMs`, so
 *   a node that dies mid-delivery is replaced) and never hands a row to two claimers while
 *   the lease holds; `markDelivered` makes them visible with `createdAt` = delivery time.
 * - Applied sends. `create` given `marks` stores, in the same transaction as the rows, each
 *   marked send's outcomes (row id and outcome per item) under its key; `appliedSends` reads
 *   them back. A send retried under an Idempotency-Key after the node running it died finds
 *   this way whether, and how, the first attempt was applied, and applies nothing twice.
 *   Marks older than `InboxRetention.sendMarksMaxAgeMs` are deleted by `trim`.
 * - Errors: any method may reject when the backend is unreachable; callers answer 503.
 */

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Owner of notifications sent to everyone. Not a valid channel name, so never a user or feed. */
export const EVERYONE = '*';

export type InboxScope =
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'feed'; readonly channel: string }
  | { readonly kind: 'everyone' };

/** The owner value of a scope's own rows. */
export function scopeOwner(scope: InboxScope): string {
  if (scope.kind === 'user') return `user:${scope.userId}`;
  if (scope.kind === 'feed') return scope.channel;
  return EVERYONE;
}

export interface NotificationContent {
  readonly title: string;
  readonly body: string;
  /** JSON text of the publisher's `data`, if any. */
  readonly data?: string | undefined;
  readonly category?: string | undefined;
  readonly priority: Priority;
  readonly severity?: Severity | undefined;
  /** Action URL, http(s) only (checked by the caller). */
  readonly url?: string | undefined;
  /** Hidden and deleted from this time on (ms since the epoch). */
  readonly expiresAt?: number | undefined;
  /** Name of the template it was rendered from. */
  readonly template?: string | undefined;
}

export interface NewNotification extends NotificationContent {
  readonly id: string;
  /** `user:{id}`, a feed channel, or EVERYONE. */
  readonly owner: string;
  readonly createdAt: number;
  /** When later than `createdAt`, the row is held (`scheduled`) until then. */
  readonly deliverAt?: number | undefined;
  readonly collapseKey?: string | undefined;
  readonly dedupKey?: string | undefined;
  /** Repeats of `dedupKey` within this many ms of the first are dropped. */
  readonly dedupWindowMs?: number | undefined;
  /** SSE type and durability of the live event announcing it. */
  readonly eventType: string;
  readonly durable: boolean;
  /** The recipient's preferences held back the live push (stored all the same). */
  readonly muted: boolean;
}

export interface NotificationState {
  readonly readAt: number | null;
  readonly seenAt: number | null;
  readonly ackedAt: number | null;
  readonly ackedBy: string | null;
  readonly archivedAt: number | null;
}

export type NotificationStatus = 'scheduled' | 'delivered';

export interface StoredNotification extends NewNotification, NotificationState {
  readonly updatedAt: number;
  readonly status: NotificationStatus;
  readonly collapsedCount: number;
}

export type CreateOutcome = 'created' | 'scheduled' | 'collapsed' | 'deduplicated';

export interface CreateResult {
  readonly outcome: CreateOutcome;
  /** The row as stored now: the new one, the collapsed one, or the one that deduplicated it. */
  readonly notification: StoredNotification;
}

/**
 * Marks the items `from` .. `from + count - 1` of a `create` as one send, applied under `key`
 * (see "Applied sends" above).
 */
export interface SendMark {
  readonly key: string;
  readonly from: number;
  readonly count: number;
}

/** What a marked send did, per item in input order: the row it answered with, and how. */
export type AppliedSend = readonly { readonly id: string; readonly outcome: CreateOutcome }[];

export interface InboxFilter {
  readonly ids?: readonly string[];
  readonly read?: boolean;
  readonly seen?: boolean;
  readonly acked?: boolean;
  /** Absent: archived or not. */
  readonly archived?: boolean;
  readonly categories?: readonly string[];
  readonly priorities?: readonly Priority[];
  readonly severities?: readonly Severity[];
  /** createdAt >= since (ms). */
  readonly since?: number;
  /** createdAt < until (ms). */
  readonly until?: number;
  /** Case-insensitive substring of the title. */
  readonly titleContains?: string;
  /** Absent: delivered only. */
  readonly status?: NotificationStatus | 'any';
}

export interface PagePosition {
  readonly createdAt: number;
  readonly id: string;
}

export type StateChange =
  | { readonly kind: 'read' }
  | { readonly kind: 'unread' }
  | { readonly kind: 'seen' }
  | { readonly kind: 'ack'; readonly by: string }
  | { readonly kind: 'archive' }
  | { readonly kind: 'unarchive' };

export interface InboxSummary {
  /** Unread, unarchived notifications. */
  readonly unread: number;
  /** Of those, not seen either (a badge). */
  readonly unseen: number;
  /** Unread by category; uncategorized ones count only in `unread`. */
  readonly unreadByCategory: Record<string, number>;
  /** Unacknowledged, unarchived notifications that carry a severity (alerts). */
  readonly unacked: number;
  readonly unackedBySeverity: Record<Severity, number>;
}

export interface InboxRetention {
  /** Delete delivered notifications older than this (0: no age limit). */
  readonly maxAgeMs: number;
  /** Keep at most this many delivered notifications per owner (0: no limit). */
  readonly maxPerOwner: number;
  /** Delete send marks older than this (the idempotency record's lifetime). */
  readonly sendMarksMaxAgeMs: number;
}

export interface TemplateSpec {
  readonly title: string;
  readonly body: string;
  readonly category?: string | undefined;
  readonly priority?: Priority | undefined;
  readonly severity?: Severity | undefined;
  readonly url?: string | undefined;
}

export interface StoredTemplate extends TemplateSpec {
  readonly name: string;
  readonly updatedAt: number;
}

export interface Preferences {
  readonly mutedCategories: readonly string[];
  /** Notifications below this priority are stored but not pushed live (critical always is). */
  readonly minPriority: Priority;
}

export const DEFAULT_PREFERENCES: Preferences = { mutedCategories: [], minPriority: 'low' };

export interface InboxStore {
  /** Creates tables (idempotent, safe when several nodes start at once). */
  init(): Promise<void>;
  /**
   * Stores notifications, applying dedup and collapse; results in input order. With `marks`,
   * also stores each marked send's outcomes, atomically with the rows.
   */
  create(
    items: readonly NewNotification[],
    now: number,
    marks?: readonly SendMark[],
  ): Promise<CreateResult[]>;
  /**
   * Optional, for a backend on the event store's synchronous connection (SQLite): `create`
   * run at once, inside the caller's transaction, so it can commit in the same transaction
   * as the events announcing it (`Store.appendWith`). Throws instead of rejecting.
   */
  createNow?(
    items: readonly NewNotification[],
    now: number,
    marks?: readonly SendMark[],
  ): CreateResult[];
  /** The outcomes stored for each of these send keys that has a mark (see `create`). */
  appliedSends(keys: readonly string[]): Promise<Map<string, AppliedSend>>;
  /** The rows with these ids, whatever their owner, status or expiry; missing ids are skipped. */
  byIds(ids: readonly string[]): Promise<StoredNotification[]>;
  /** Optional, as `createNow`: `summaries` counted at once, inside the caller's transaction. */
  summariesNow?(scopes: readonly InboxScope[], now: number): InboxSummary[];
  /** Owner and status of a row that is not expired, or undefined. */
  locate(
    id: string,
    now: number,
  ): Promise<{ owner: string; status: NotificationStatus } | undefined>;
  /** Rows of `scope` matching `filter`, newest first, after `before`, at most `limit`. */
  list(
    scope: InboxScope,
    filter: InboxFilter,
    limit: number,
    before: PagePosition | undefined,
    now: number,
  ): Promise<StoredNotification[]>;
  /** Applies `change` to the matching rows of `scope`; returns the ids that changed. */
  mark(scope: InboxScope, filter: InboxFilter, change: StateChange, now: number): Promise<string[]>;
  /**
   * Deletes the matching rows of `scope` (for a user, EVERYONE rows are hidden from that
   * user only); returns the ids removed.
   */
  remove(scope: InboxScope, filter: InboxFilter, now: number): Promise<string[]>;
  /** Counts for each scope, in input order. */
  summaries(scopes: readonly InboxScope[], now: number): Promise<InboxSummary[]>;
  /** Leases up to `limit` scheduled rows due at `now`, oldest due first. */
  claimDue(now: number, leaseMs: number, limit: number): Promise<StoredNotification[]>;
  /** Makes claimed rows visible; `muted` records whether the live push was held back. */
  markDelivered(rows: readonly { id: string; muted: boolean }[], now: number): Promise<void>;
  /** Applies retention and deletes expired rows; returns the number of rows deleted. */
  trim(policy: InboxRetention, now: number): Promise<number>;

  putTemplate(name: string, spec: TemplateSpec, now: number): Promise<StoredTemplate>;
  getTemplate(name: string): Promise<StoredTemplate | undefined>;
  listTemplates(): Promise<StoredTemplate[]>;
  /** True when a template was deleted. */
  deleteTemplate(name: string): Promise<boolean>;

  /** Preferences of each user (defaults when never set), keyed by user id. */
  preferences(userIds: readonly string[]): Promise<Map<string, Preferences>>;
  putPreferences(userId: string, prefs: Preferences, now: number): Promise<void>;
}

/** A row as `create` stores it: unread, unseen, not acked or archived, never collapsed. */
export function storedAsNew(item: NewNotification, status: NotificationStatus): StoredNotification {
  // The item last (it has none of these fields): a literal that starts with a spread and adds
  // properties after it costs about 1 us per property in V8, as each goes through the runtime.
  return {
    updatedAt: item.createdAt,
    status,
    collapsedCount: 0,
    readAt: null,
    seenAt: null,
    ackedAt: null,
    ackedBy: null,
    archivedAt: null,
    ...item,
  };
}

export function emptySummary(): InboxSummary {
  return {
    unread: 0,
    unseen: 0,
    unreadByCategory: {},
    unacked: 0,
    unackedBySeverity: { info: 0, low: 0, medium: 0, high: 0, critical: 0 },
  };
}
