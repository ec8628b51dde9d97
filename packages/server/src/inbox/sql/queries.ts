import {
  EVERYONE,
  type InboxFilter,
  type NewNotification,
  type NotificationStatus,
  type PagePosition,
  type Priority,
  type Severity,
  type StateChange,
  type StoredNotification,
} from '../inbox-store.js';

/**
 * The SQL both inbox backends share. Statements are written once with `?` placeholders;
 * the PostgreSQL backend numbers them (`toPg`). Only what the two dialects spell
 * differently is switched on `Dialect`: case-insensitive LIKE and booleans.
 */

export type Dialect = 'sqlite' | 'postgres';

/** Table names, already quoted and qualified for the backend. */
export interface InboxTables {
  readonly notifications: string;
  readonly state: string;
  readonly templates: string;
  readonly preferences: string;
  /** Applied-send marks (`InboxStore.appliedSends`). */
  readonly sends: string;
}

export interface Query {
  readonly sql: string;
  readonly params: unknown[];
}

/** Numbers `?` placeholders as `$1, $2, …` (no statement here holds a literal `?`). */
export function toPg(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const CONTENT_COLUMNS = [
  'id',
  'owner',
  'title',
  'body',
  'data',
  'category',
  'priority',
  'severity',
  'url',
  'template',
  'created_at',
  'updated_at',
  'expires_at',
  'deliver_at',
  'status',
  'event_type',
  'durable',
  'muted',
  'collapse_key',
  'collapsed_count',
  'dedup_key',
] as const;

const STATE_COLUMNS = ['read_at', 'seen_at', 'acked_at', 'acked_by', 'archived_at'] as const;

/** Columns of a notification row; state is read from `state` (`n` itself, or a user's `s`). */
export function selectColumns(state: 'n' | 's'): string {
  return [
    ...CONTENT_COLUMNS.map((c) => `n.${c}`),
    ...STATE_COLUMNS.map((c) => `${state}.${c} AS ${c}`),
  ].join(', ');
}

/** Unqualified column list for RETURNING clauses. */
export const RETURNING_COLUMNS = [...CONTENT_COLUMNS, ...STATE_COLUMNS].join(', ');

/** Every column `create` writes, in the order of `insertValues`. */
export const INSERT_COLUMNS = [...CONTENT_COLUMNS, ...STATE_COLUMNS].join(', ');
export const INSERT_WIDTH = CONTENT_COLUMNS.length + STATE_COLUMNS.length;

function bool(dialect: Dialect, v: boolean): boolean | number {
  return dialect === 'postgres' ? v : v ? 1 : 0;
}

export function initialStatus(n: NewNotification): NotificationStatus {
  return n.deliverAt !== undefined && n.deliverAt > n.createdAt ? 'scheduled' : 'delivered';
}

export function insertValues(n: NewNotification, dialect: Dialect): unknown[] {
  return [
    n.id,
    n.owner,
    n.title,
    n.body,
    n.data ?? null,
    n.category ?? null,
    n.priority,
    n.severity ?? null,
    n.url ?? null,
    n.template ?? null,
    n.createdAt,
    n.createdAt,
    n.expiresAt ?? null,
    n.deliverAt ?? null,
    initialStatus(n),
    n.eventType,
    bool(dialect, n.durable),
    bool(dialect, n.muted),
    n.collapseKey ?? null,
    0,
    n.dedupKey ?? null,
    null,
    null,
    null,
    null,
    null,
  ];
}

/** The content columns a collapse replaces, and their values. */
export function collapseUpdate(
  t: InboxTables,
  targetId: string,
  n: NewNotification,
  dialect: Dialect,
): Query {
  return {
    sql: `UPDATE ${t.notifications} SET title = ?, body = ?, data = ?, category = ?, priority = ?,
            severity = ?, url = ?, template = ?, expires_at = ?, updated_at = ?, event_type = ?,
            durable = ?, muted = ?, seen_at = NULL, collapsed_count = collapsed_count + 1
          WHERE id = ? RETURNING ${RETURNING_COLUMNS}`,
    params: [
      n.title,
      n.body,
      n.data ?? null,
      n.category ?? null,
      n.priority,
      n.severity ?? null,
      n.url ?? null,
      n.template ?? null,
      n.expiresAt ?? null,
      n.createdAt,
      n.eventType,
      bool(dialect, n.durable),
      bool(dialect, n.muted),
      targetId,
    ],
  };
}

/** Finds the row an item's dedupKey repeats, if any (params: owner, key, window start). */
export function dedupLookup(t: InboxTables): string {
  return `SELECT ${selectColumns('n')} FROM ${t.notifications} n
          WHERE n.owner = ? AND n.dedup_key = ? AND n.created_at > ?
          ORDER BY n.created_at DESC, n.id DESC LIMIT 1`;
}

/** Finds the unread row an item's collapseKey replaces (params: owner, key, now). */
export function collapseLookup(t: InboxTables): string {
  return `SELECT ${selectColumns('n')} FROM ${t.notifications} n
          WHERE n.owner = ? AND n.collapse_key = ? AND n.status = 'delivered'
            AND n.read_at IS NULL AND n.archived_at IS NULL
            AND (n.expires_at IS NULL OR n.expires_at > ?)
          ORDER BY n.created_at DESC, n.id DESC LIMIT 1`;
}

/** A row as either driver returns it (PostgreSQL gives bigint as text). */
export type NotificationRow = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}
function optNum(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}
/** A text column as text (drivers answer strings; numbers only for numeric columns). */
export function asText(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
}
function optStr(v: unknown): string | undefined {
  return v === null || v === undefined ? undefined : asText(v);
}
function flag(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}

export function rowToNotification(r: NotificationRow): StoredNotification {
  return {
    id: String(r['id']),
    owner: String(r['owner']),
    title: String(r['title']),
    body: String(r['body']),
    data: optStr(r['data']),
    category: optStr(r['category']),
    priority: String(r['priority']) as Priority,
    severity: optStr(r['severity']) as Severity | undefined,
    url: optStr(r['url']),
    template: optStr(r['template']),
    createdAt: num(r['created_at']),
    updatedAt: num(r['updated_at']),
    expiresAt: optNum(r['expires_at']) ?? undefined,
    deliverAt: optNum(r['deliver_at']) ?? undefined,
    status: String(r['status']) as NotificationStatus,
    eventType: String(r['event_type']),
    durable: flag(r['durable']),
    muted: flag(r['muted']),
    collapseKey: optStr(r['collapse_key']),
    collapsedCount: num(r['collapsed_count']),
    dedupKey: optStr(r['dedup_key']),
    readAt: optNum(r['read_at']),
    seenAt: optNum(r['seen_at']),
    ackedAt: optNum(r['acked_at']),
    ackedBy: optStr(r['acked_by']) ?? null,
    archivedAt: optNum(r['archived_at']),
  };
}

function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** `col IN (?, ?, …)`, or a clause that matches nothing for an empty list. */
function inList(col: string, values: readonly unknown[], params: unknown[]): string {
  if (values.length === 0) return '1 = 0';
  params.push(...values);
  return `${col} IN (${placeholders(values.length)})`;
}

/** LIKE metacharacters in user text are matched literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The WHERE conditions of a filter. Content columns are read from `n`; state from `st`
 * (`n` for rows with their own state, `s` for a user's state of an EVERYONE row).
 */
export function filterConditions(
  f: InboxFilter,
  st: 'n' | 's',
  now: number,
  dialect: Dialect,
  params: unknown[],
): string[] {
  const c: string[] = [];
  const status = f.status ?? 'delivered';
  if (status !== 'any') {
    c.push('n.status = ?');
    params.push(status);
  }
  c.push('(n.expires_at IS NULL OR n.expires_at > ?)');
  params.push(now);
  if (f.ids) c.push(inList('n.id', f.ids, params));
  const isNull = (col: string, wantNull: boolean) =>
    c.push(`${st}.${col} IS ${wantNull ? '' : 'NOT '}NULL`);
  if (f.read !== undefined) isNull('read_at', !f.read);
  if (f.seen !== undefined) isNull('seen_at', !f.seen);
  if (f.acked !== undefined) isNull('acked_at', !f.acked);
  if (f.archived !== undefined) isNull('archived_at', !f.archived);
  if (f.categories) c.push(inList('n.category', f.categories, params));
  if (f.priorities) c.push(inList('n.priority', f.priorities, params));
  if (f.severities) c.push(inList('n.severity', f.severities, params));
  if (f.since !== undefined) {
    c.push('n.created_at >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    c.push('n.created_at < ?');
    params.push(f.until);
  }
  if (f.titleContains !== undefined && f.titleContains !== '') {
    // SQLite's LIKE ignores ASCII case; PostgreSQL needs ILIKE for the same answer.
    c.push(`n.title ${dialect === 'postgres' ? 'ILIKE' : 'LIKE'} ? ESCAPE '\\'`);
    params.push(likePattern(f.titleContains));
  }
  return c;
}

/** One page of a scope's own rows (state on the row), or of a user's EVERYONE rows. */
export function listQuery(
  t: InboxTables,
  part: { owner: string } | { everyoneFor: string },
  f: InboxFilter,
  limit: number,
  before: PagePosition | undefined,
  now: number,
  dialect: Dialect,
): Query {
  const params: unknown[] = [];
  let from: string;
  let st: 'n' | 's';
  const where: string[] = [];
  if ('owner' in part) {
    from = `${t.notifications} n`;
    st = 'n';
    where.push('n.owner = ?');
    params.push(part.owner);
  } else {
    from = `${t.notifications} n LEFT JOIN ${t.state} s ON s.user_id = ? AND s.notification_id = n.id`;
    st = 's';
    params.push(part.everyoneFor);
    where.push('n.owner = ?', 's.deleted_at IS NULL');
    params.push(EVERYONE);
  }
  where.push(...filterConditions(f, st, now, dialect, params));
  if (before) {
    where.push('(n.created_at, n.id) < (?, ?)');
    params.push(before.createdAt, before.id);
  }
  params.push(limit);
  return {
    sql: `SELECT ${selectColumns(st)} FROM ${from} WHERE ${where.join(' AND ')}
          ORDER BY n.created_at DESC, n.id DESC LIMIT ?`,
    params,
  };
}

/** The condition under which `change` alters a row's state (so "changed" is exact). */
export function changeCondition(change: StateChange, st: 'n' | 's'): string {
  switch (change.kind) {
    case 'read':
      return `${st}.read_at IS NULL`;
    case 'unread':
      return `${st}.read_at IS NOT NULL`;
    case 'seen':
      return `${st}.seen_at IS NULL`;
    case 'ack':
      return `${st}.acked_at IS NULL`;
    case 'archive':
      return `${st}.archived_at IS NULL`;
    case 'unarchive':
      return `${st}.archived_at IS NOT NULL`;
  }
}

type Assign = { col: string; value: unknown; keep?: boolean };

/** What a change writes; `keep` columns keep an existing value (COALESCE). */
function assignments(change: StateChange | { kind: 'delete' }, now: number): Assign[] {
  switch (change.kind) {
    case 'read':
      return [
        { col: 'read_at', value: now },
        { col: 'seen_at', value: now, keep: true },
      ];
    case 'unread':
      return [{ col: 'read_at', value: null }];
    case 'seen':
      return [{ col: 'seen_at', value: now }];
    case 'ack':
      return [
        { col: 'acked_at', value: now },
        { col: 'acked_by', value: change.by },
      ];
    case 'archive':
      return [{ col: 'archived_at', value: now }];
    case 'unarchive':
      return [{ col: 'archived_at', value: null }];
    case 'delete':
      return [{ col: 'deleted_at', value: now }];
  }
}

/** UPDATE of the scope's own rows matching `f` whose state `change` alters; returns ids. */
export function markOwnQuery(
  t: InboxTables,
  owner: string,
  f: InboxFilter,
  change: StateChange,
  now: number,
  dialect: Dialect,
): Query {
  const params: unknown[] = [];
  const sets = assignments(change, now).map((a) => {
    params.push(a.value);
    return a.keep ? `${a.col} = COALESCE(${a.col}, ?)` : `${a.col} = ?`;
  });
  const where = ['n.owner = ?'];
  params.push(owner);
  where.push(...filterConditions(f, 'n', now, dialect, params), changeCondition(change, 'n'));
  return {
    sql: `UPDATE ${t.notifications} AS n SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING id`,
    params,
  };
}

/** EVERYONE rows a user's `change` (or delete) would alter: select them, then upsert state. */
export function everyoneTargetsQuery(
  t: InboxTables,
  userId: string,
  f: InboxFilter,
  change: StateChange | { kind: 'delete' },
  now: number,
  dialect: Dialect,
): Query {
  const params: unknown[] = [userId, EVERYONE];
  const where = ['n.owner = ?', 's.deleted_at IS NULL'];
  where.push(...filterConditions(f, 's', now, dialect, params));
  if (change.kind !== 'delete') where.push(changeCondition(change, 's'));
  return {
    sql: `SELECT n.id FROM ${t.notifications} n
          LEFT JOIN ${t.state} s ON s.user_id = ? AND s.notification_id = n.id
          WHERE ${where.join(' AND ')}`,
    params,
  };
}

/** Upserts one user's state of EVERYONE rows (params per row: the user id and row id). */
export function stateUpsert(
  t: InboxTables,
  userId: string,
  ids: readonly string[],
  change: StateChange | { kind: 'delete' },
  now: number,
): Query {
  const assigns = assignments(change, now);
  const cols = assigns.map((a) => a.col);
  const params: unknown[] = [];
  const rows = ids.map((id) => {
    params.push(userId, id, ...assigns.map((a) => a.value));
    return `(${placeholders(2 + assigns.length)})`;
  });
  const updates = assigns.map((a) =>
    a.keep ? `${a.col} = COALESCE(st.${a.col}, excluded.${a.col})` : `${a.col} = excluded.${a.col}`,
  );
  return {
    sql: `INSERT INTO ${t.state} AS st (user_id, notification_id, ${cols.join(', ')})
          VALUES ${rows.join(', ')}
          ON CONFLICT (user_id, notification_id) DO UPDATE SET ${updates.join(', ')}`,
    params,
  };
}

/** DELETE of the scope's own rows matching `f`; returns ids. */
export function removeOwnQuery(
  t: InboxTables,
  owner: string,
  f: InboxFilter,
  now: number,
  dialect: Dialect,
): Query {
  const params: unknown[] = [owner];
  const where = ['n.owner = ?', ...filterConditions(f, 'n', now, dialect, params)];
  return {
    sql: `DELETE FROM ${t.notifications} AS n WHERE ${where.join(' AND ')} RETURNING id`,
    params,
  };
}

/** Counts of visible, unarchived rows by owner and `by`, where `condition` holds. */
function ownerCounts(
  t: InboxTables,
  owners: readonly string[],
  now: number,
  by: 'category' | 'severity',
  counts: string,
  condition: string,
): Query {
  const params: unknown[] = [];
  const owner = inList('owner', owners, params);
  params.push(now);
  return {
    sql: `SELECT owner, ${by}, ${counts} FROM ${t.notifications}
          WHERE ${owner} AND ${condition} AND archived_at IS NULL AND status = 'delivered'
            AND (expires_at IS NULL OR expires_at > ?)
          GROUP BY owner, ${by}`,
    params,
  };
}

/** Unread counts by owner and category (the partial index `inbox_unread` answers it). */
export function unreadCountsQuery(t: InboxTables, owners: readonly string[], now: number): Query {
  return ownerCounts(
    t,
    owners,
    now,
    'category',
    'count(*) AS unread, sum(CASE WHEN seen_at IS NULL THEN 1 ELSE 0 END) AS unseen',
    'read_at IS NULL',
  );
}

/** Unacked counts by owner and severity (the partial index `inbox_unacked` answers it). */
export function unackedCountsQuery(t: InboxTables, owners: readonly string[], now: number): Query {
  return ownerCounts(
    t,
    owners,
    now,
    'severity',
    'count(*) AS unacked',
    'acked_at IS NULL AND severity IS NOT NULL',
  );
}

/** Users' own state of visible EVERYONE rows: what they changed since it was sent. */
export function everyoneStateQuery(t: InboxTables, userIds: readonly string[], now: number): Query {
  const params: unknown[] = [];
  const users = inList('s.user_id', userIds, params);
  params.push(EVERYONE, now);
  return {
    sql: `SELECT s.user_id, n.category, n.severity, s.read_at, s.seen_at, s.acked_at,
                 s.archived_at, s.deleted_at
          FROM ${t.state} s JOIN ${t.notifications} n ON n.id = s.notification_id
          WHERE ${users} AND n.owner = ? AND n.status = 'delivered'
            AND (n.expires_at IS NULL OR n.expires_at > ?)`,
    params,
  };
}

/** Visible EVERYONE rows by category and severity: every user's counts before their changes. */
export function everyoneCountsQuery(t: InboxTables, now: number): Query {
  return {
    sql: `SELECT category, severity, count(*) AS n FROM ${t.notifications}
          WHERE owner = ? AND status = 'delivered' AND (expires_at IS NULL OR expires_at > ?)
          GROUP BY category, severity`,
    params: [EVERYONE, now],
  };
}

/** Splits a list so no statement carries more than `size` items. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
