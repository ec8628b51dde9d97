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

/** A JSON string literal, or `null`. */
function jsonText(s: string | null): string {
  return s === null ? 'null' : JSON.stringify(s);
}

function jsonIso(ms: number | null): string {
  return ms === null ? 'null' : `"${iso(ms)}"`;
}

/**
 * Data of the live `notification` event: the view plus `sentAt`, so a client written
 * for the simple form `{id, title, message, category, priority, url, data, sentAt}` works too.
 *
 * The text of `JSON.stringify({ ...notificationView(n), sentAt })`, written out field by
 * field: every send makes one, and the view would parse `data` only for it to be
 * stringified again. `data` is the JSON text `JSON.stringify` made when it was sent, which
 * a parse and a stringify give back unchanged, so it goes in as it is.
 */
export function notificationEventData(n: StoredNotification): string {
  const created = `"${iso(n.createdAt)}"`;
  let j = `{"id":${JSON.stringify(n.id)},`;
  if (n.owner === EVERYONE) j += '"everyone":true';
  else if (n.owner.startsWith('user:')) j += `"userId":${jsonText(n.owner.slice(5))}`;
  else j += `"channel":${jsonText(n.owner)}`;
  j += `,"title":${jsonText(n.title)},"message":${jsonText(n.body)}`;
  if (n.category !== undefined) j += `,"category":${jsonText(n.category)}`;
  j += `,"priority":${jsonText(n.priority)}`;
  if (n.severity !== undefined) j += `,"severity":${jsonText(n.severity)}`;
  if (n.url !== undefined) j += `,"url":${jsonText(n.url)}`;
  if (n.data !== undefined) j += `,"data":${n.data}`;
  if (n.template !== undefined) j += `,"template":${jsonText(n.template)}`;
  j += `,"status":${jsonText(n.status)},"createdAt":${created}`;
  j += `,"updatedAt":${n.updatedAt === n.createdAt ? created : jsonIso(n.updatedAt)}`;
  if (n.deliverAt !== undefined) j += `,"deliverAt":${jsonIso(n.deliverAt)}`;
  if (n.expiresAt !== undefined) j += `,"expiresAt":${jsonIso(n.expiresAt)}`;
  j += `,"read":${n.readAt !== null},"readAt":${jsonIso(n.readAt)}`;
  j += `,"seen":${n.seenAt !== null},"seenAt":${jsonIso(n.seenAt)}`;
  j += `,"acked":${n.ackedAt !== null},"ackedAt":${jsonIso(n.ackedAt)}`;
  j += `,"ackedBy":${jsonText(n.ackedBy)}`;
  j += `,"archived":${n.archivedAt !== null},"archivedAt":${jsonIso(n.archivedAt)}`;
  j += `,"muted":${JSON.stringify(n.muted)}`;
  if (n.collapseKey !== undefined) j += `,"collapseKey":${jsonText(n.collapseKey)}`;
  j += `,"collapsedCount":${JSON.stringify(n.collapsedCount)}`;
  if (n.dedupKey !== undefined) j += `,"dedupKey":${jsonText(n.dedupKey)}`;
  return `${j},"sentAt":${created}}`;
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
