import { EVERYONE, type StoredNotification, type StoredTemplate } from './inbox-store.js';
import { templateVariables } from './template.js';

/**
 * The JSON shape of a notification in the API and in events (docs/inbox.md, "The model").
 * Times are ISO 8601 strings; state fields are always present (null when unset); optional
 * content fields are left out when absent.
 */
export interface NotificationView {
  readonly id: string;
  readonly userId?: string;
  readonly channel?: string;
  readonly everyone?: true;
  readonly title: string;
  readonly message: string;
  readonly category?: string;
  readonly priority: string;
  readonly severity?: string;
  readonly url?: string;
  readonly data?: unknown;
  readonly template?: string;
  readonly status: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly deliverAt?: string;
  readonly expiresAt?: string;
  readonly read: boolean;
  readonly readAt: string | null;
  readonly seen: boolean;
  readonly seenAt: string | null;
  readonly acked: boolean;
  readonly ackedAt: string | null;
  readonly ackedBy: string | null;
  readonly archived: boolean;
  readonly archivedAt: string | null;
  readonly muted: boolean;
  readonly collapseKey?: string;
  readonly collapsedCount: number;
  readonly dedupKey?: string;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

/** Who a row belongs to, as view fields. */
function recipient(owner: string): { userId: string } | { channel: string } | { everyone: true } {
  if (owner === EVERYONE) return { everyone: true };
  if (owner.startsWith('user:')) return { userId: owner.slice('user:'.length) };
  return { channel: owner };
}

export function notificationView(n: StoredNotification): NotificationView {
  const v: Record<string, unknown> = { id: n.id, ...recipient(n.owner) };
  v['title'] = n.title;
  v['message'] = n.body;
  if (n.category !== undefined) v['category'] = n.category;
  v['priority'] = n.priority;
  if (n.severity !== undefined) v['severity'] = n.severity;
  if (n.url !== undefined) v['url'] = n.url;
  if (n.data !== undefined) v['data'] = JSON.parse(n.data) as unknown;
  if (n.template !== undefined) v['template'] = n.template;
  v['status'] = n.status;
  v['createdAt'] = iso(n.createdAt);
  v['updatedAt'] = iso(n.updatedAt);
  if (n.deliverAt !== undefined) v['deliverAt'] = iso(n.deliverAt);
  if (n.expiresAt !== undefined) v['expiresAt'] = iso(n.expiresAt);
  v['read'] = n.readAt !== null;
  v['readAt'] = isoOrNull(n.readAt);
  v['seen'] = n.seenAt !== null;
  v['seenAt'] = isoOrNull(n.seenAt);
  v['acked'] = n.ackedAt !== null;
  v['ackedAt'] = isoOrNull(n.ackedAt);
  v['ackedBy'] = n.ackedBy;
  v['archived'] = n.archivedAt !== null;
  v['archivedAt'] = isoOrNull(n.archivedAt);
  v['muted'] = n.muted;
  if (n.collapseKey !== undefined) v['collapseKey'] = n.collapseKey;
  v['collapsedCount'] = n.collapsedCount;
  if (n.dedupKey !== undefined) v['dedupKey'] = n.dedupKey;
  return v as unknown as NotificationView;
}

/**
 * Data of the live `notification` event: the view plus `sentAt`, so a client written
 * for the simple form `{id, title, message, category, priority, url, data, sentAt}` works too.
 */
export function notificationEventData(n: StoredNotification): string {
  return JSON.stringify({ ...notificationView(n), sentAt: iso(n.createdAt) });
}

export function templateView(t: StoredTemplate): Record<string, unknown> {
  const v: Record<string, unknown> = { name: t.name, title: t.title, message: t.body };
  if (t.category !== undefined) v['category'] = t.category;
  if (t.priority !== undefined) v['priority'] = t.priority;
  if (t.severity !== undefined) v['severity'] = t.severity;
  if (t.url !== undefined) v['url'] = t.url;
  v['variables'] = templateVariables(t);
  v['updatedAt'] = iso(t.updatedAt);
  return v;
}
