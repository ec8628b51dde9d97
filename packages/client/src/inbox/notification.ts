/** A notification as Herald's inbox routes and events show it (docs/inbox.md). */
export interface Notification {
  readonly id: string;
  readonly userId?: string | null;
  readonly channel?: string | null;
  readonly everyone?: boolean;
  readonly title: string;
  readonly message: string;
  readonly category?: string | null;
  readonly priority: Priority;
  readonly severity?: Severity | null;
  readonly url?: string | null;
  readonly data?: unknown;
  readonly template?: string | null;
  readonly status?: 'delivered' | 'scheduled';
  readonly createdAt: string;
  readonly updatedAt?: string;
  readonly read: boolean;
  readonly readAt: string | null;
  readonly seen: boolean;
  readonly seenAt: string | null;
  readonly acked: boolean;
  readonly ackedAt: string | null;
  readonly ackedBy: string | null;
  readonly archived: boolean;
  readonly archivedAt: string | null;
  readonly muted?: boolean;
  readonly collapsedCount?: number;
}

export type Priority = 'low' | 'normal' | 'high' | 'critical';
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export const PRIORITIES: readonly Priority[] = ['low', 'normal', 'high', 'critical'];
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

/** `GET /notifications/summary`, and the `summary` event. */
export interface InboxSummary {
  readonly unread: number;
  readonly unseen: number;
  readonly unreadByCategory: Readonly<Record<string, number>>;
  readonly unacked: number;
  readonly unackedBySeverity: Readonly<Record<Severity, number>>;
}

/** The list filters of `GET /notifications`, as the hooks take them. */
export interface NotificationFilter {
  unread?: boolean;
  read?: boolean;
  seen?: boolean;
  acked?: boolean;
  /** Default false (the inbox); `true` the archive; `'any'` both. */
  archived?: boolean | 'any';
  category?: readonly string[];
  priority?: readonly Priority[];
  minPriority?: Priority;
  severity?: readonly Severity[];
  /** ISO 8601 or ms since the epoch: `createdAt >= since`. */
  since?: string | number;
  /** `createdAt < until`. */
  until?: string | number;
  /** Case-insensitive text in the title. */
  q?: string;
  /** A feed (a shared channel such as `alerts`) instead of the user's own inbox. */
  channel?: string;
  /** Another user's inbox (admins and API keys only). */
  userId?: string;
}

export type InboxAction = 'read' | 'unread' | 'seen' | 'ack' | 'archive' | 'unarchive' | 'delete';

/** Whether a notification belongs in a list with this filter (as the server decides it). */
export function matchesFilter(n: Notification, f: NotificationFilter): boolean {
  if (n.status === 'scheduled') return false;
  if (f.unread !== undefined && n.read === f.unread) return false;
  if (f.read !== undefined && n.read !== f.read) return false;
  if (f.seen !== undefined && n.seen !== f.seen) return false;
  if (f.acked !== undefined && n.acked !== f.acked) return false;
  const archived = f.archived ?? false;
  if (archived !== 'any' && n.archived !== archived) return false;
  if (f.category && !f.category.includes(n.category ?? '')) return false;
  if (f.priority && !f.priority.includes(n.priority)) return false;
  if (f.minPriority && PRIORITIES.indexOf(n.priority) < PRIORITIES.indexOf(f.minPriority)) {
    return false;
  }
  if (f.severity && (!n.severity || !f.severity.includes(n.severity))) return false;
  const created = Date.parse(n.createdAt);
  if (f.since !== undefined && created < toMs(f.since)) return false;
  if (f.until !== undefined && created >= toMs(f.until)) return false;
  if (f.q && !n.title.toLowerCase().includes(f.q.toLowerCase())) return false;
  return true;
}

function toMs(t: string | number): number {
  return typeof t === 'number' ? t : Date.parse(t);
}

/** Newest first, as the inbox pages them. */
export function compareNewestFirst(a: Notification, b: Notification): number {
  return b.createdAt < a.createdAt ? -1 : b.createdAt > a.createdAt ? 1 : a.id < b.id ? 1 : -1;
}

/** The state change an action makes, applied before the server confirms it. */
export function optimisticPatch(action: InboxAction, me: string | null): Partial<Notification> {
  const now = new Date().toISOString();
  switch (action) {
    case 'read':
      return { read: true, readAt: now, seen: true };
    case 'unread':
      return { read: false, readAt: null };
    case 'seen':
      return { seen: true, seenAt: now };
    case 'ack':
      return { acked: true, ackedAt: now, ackedBy: me };
    case 'archive':
      return { archived: true, archivedAt: now };
    case 'unarchive':
      return { archived: false, archivedAt: null };
    case 'delete':
      return {};
  }
}

/**
 * The patch a live state event carries (`notification.read`, `.seen`, `.acked`,
 * `.archived`), or null for other types.
 */
export function patchOfEvent(
  type: string,
  data: Record<string, unknown>,
): Partial<Notification> | null {
  switch (type) {
    case 'notification.read': {
      const read = data['read'] !== false;
      return read
        ? { read: true, readAt: (data['readAt'] as string) ?? null, seen: true }
        : { read: false, readAt: null };
    }
    case 'notification.seen':
      return { seen: true, seenAt: (data['seenAt'] as string) ?? null };
    case 'notification.acked':
    case 'ack_event':
      return {
        acked: true,
        ackedAt: (data['ackedAt'] as string) ?? null,
        ackedBy: (data['ackedBy'] as string) ?? null,
      };
    case 'notification.archived': {
      const archived = data['archived'] !== false;
      return { archived, archivedAt: archived ? ((data['archivedAt'] as string) ?? null) : null };
    }
    default:
      return null;
  }
}

/** Query parameters of a filter for `GET /notifications` (and the body of bulk changes). */
export function filterQuery(
  f: NotificationFilter,
): Record<string, string | number | boolean | readonly string[] | undefined> {
  return {
    unread: f.unread,
    read: f.read,
    seen: f.seen,
    acked: f.acked,
    archived: f.archived,
    category: f.category && f.category.length ? f.category : undefined,
    priority: f.priority && f.priority.length ? f.priority : undefined,
    minPriority: f.minPriority,
    severity: f.severity && f.severity.length ? f.severity : undefined,
    since: f.since,
    until: f.until,
    q: f.q || undefined,
    channel: f.channel,
    userId: f.userId,
  };
}
