import {
  DEFAULT_PREFERENCES,
  PRIORITIES,
  SEVERITIES,
  emptySummary,
  scopeOwner,
  storedAsNew,
  type AppliedSend,
  type CreateOutcome,
  type CreateResult,
  type InboxFilter,
  type InboxRetention,
  type InboxScope,
  type InboxStore,
  type InboxSummary,
  type NewNotification,
  type NotificationStatus,
  type PagePosition,
  type Preferences,
  type SendMark,
  type Severity,
  type StateChange,
  type StoredNotification,
  type StoredTemplate,
  type TemplateSpec,
} from '../inbox-store.js';
import { inTurns } from '../../in-turns.js';
import {
  INSERT_COLUMNS,
  INSERT_WIDTH,
  RETURNING_COLUMNS,
  asText,
  chunks,
  collapseLookup,
  collapseUpdate,
  dedupLookup,
  everyoneCountsQuery,
  everyoneStateQuery,
  everyoneTargetsQuery,
  initialStatus,
  insertValues,
  listQuery,
  markOwnQuery,
  removeOwnQuery,
  rowToNotification,
  stateUpsert,
  unackedCountsQuery,
  unreadCountsQuery,
  type Dialect,
  type InboxTables,
} from './queries.js';

/**
 * The inbox logic, written once for both SQL backends.
 *
 * Each operation is a generator ("program") that yields the statements it needs and gets
 * their results back. A backend only interprets programs: SQLite runs one synchronously
 * inside a single `db.transaction` (so nothing else on the shared connection, not even an
 * event-store append, can interleave with it), PostgreSQL awaits each statement on one
 * pooled client between BEGIN and COMMIT. The same statements, the same decisions, so the
 * two backends cannot drift apart; the contract tests run both.
 */

export type Row = Record<string, unknown>;

export interface Step {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** `rows`: SELECT or RETURNING, answers rows; `run`: answers the number of rows changed. */
  readonly kind: 'rows' | 'run';
}

export type Program<T> = Generator<Step, T, unknown>;

export interface SqlRunner {
  /** Runs a program; `atomic` runs it as one transaction (all statements or none). */
  run<T>(program: Program<T>, atomic: boolean): Promise<T>;
  /**
   * A synchronous driver (SQLite) only: runs a program at once, in the caller's transaction
   * when one is open, else in its own when `atomic`.
   */
  runNow?<T>(program: Program<T>, atomic: boolean): T;
}

export function* rows(sql: string, params: readonly unknown[] = []): Generator<Step, Row[]> {
  return (yield { sql, params, kind: 'rows' }) as Row[];
}

export function* exec(sql: string, params: readonly unknown[] = []): Generator<Step, number> {
  return (yield { sql, params, kind: 'run' }) as number;
}

/** Rows per multi-row INSERT: well under both engines' limits on bound parameters. */
const INSERT_BATCH = 500;
/** Items per IN list. */
const IN_BATCH = 500;

/** Owners looked at per slice of a retention sweep (`trim`). */
const TRIM_OWNERS_PER_SLICE = 500;

/** Second key of PostgreSQL advisory locks taken per dedup/collapse key ("HBX1"). */
const STORM_LOCK = 0x4842_5831;

/** One row's placeholders in a multi-row INSERT. */
const INSERT_TUPLE = `(${Array.from({ length: INSERT_WIDTH }, () => '?').join(', ')})`;
/**
 * The INSERT of `rows` rows, made once per table set and size: the same string object each
 * time, so the prepared-statement cache finds it without hashing kilobytes of SQL anew.
 */
const insertStatements = new WeakMap<InboxTables, string[]>();
function insertStatement(t: InboxTables, rows: number): string {
  let sizes = insertStatements.get(t);
  if (!sizes) insertStatements.set(t, (sizes = []));
  return (sizes[rows] ??= `INSERT INTO ${t.notifications} (${INSERT_COLUMNS}) VALUES ${Array.from(
    { length: rows },
    () => INSERT_TUPLE,
  ).join(', ')}`);
}

/**
 * The rows of `select` (a SELECT ... FROM, with no WHERE) whose `column` is one of `values`,
 * asked in IN lists of at most IN_BATCH values.
 */
function* rowsIn(
  select: string,
  column: string,
  values: readonly unknown[],
): Generator<Step, Row[]> {
  const out: Row[] = [];
  for (const batch of chunks(values, IN_BATCH)) {
    const sql = `${select} WHERE ${column} IN (${batch.map(() => '?').join(', ')})`;
    for (const r of yield* rows(sql, batch)) out.push(r);
  }
  return out;
}

/**
 * Storm control reads before it writes, several rows go in together, and a mark must commit
 * with its rows: a transaction.
 */
function createIsAtomic(items: readonly NewNotification[], marks: readonly SendMark[]): boolean {
  return (
    items.length > 1 ||
    marks.length > 0 ||
    items.some((i) => i.dedupKey !== undefined || i.collapseKey !== undefined)
  );
}

function compareNewestFirst(a: StoredNotification, b: StoredNotification): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function count(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

export abstract class SqlInbox implements InboxStore {
  constructor(
    protected readonly runner: SqlRunner,
    protected readonly t: InboxTables,
    protected readonly dialect: Dialect,
    /** Namespaces advisory locks (PostgreSQL schema); unused by SQLite. */
    private readonly lockNamespace = '',
  ) {
    const now = runner.runNow?.bind(runner);
    if (now) {
      this.createNow = (items, at, marks = []) =>
        items.length === 0
          ? []
          : now(this.createProgram(items, at, marks), createIsAtomic(items, marks));
      this.summariesNow = (scopes, at) =>
        scopes.length === 0 ? [] : now(this.summariesProgram(scopes, at), false);
    }
  }

  /** Set when the runner is synchronous (SQLite): see `InboxStore.createNow`. */
  readonly createNow?: InboxStore['createNow'];
  /** Set when the runner is synchronous (SQLite): see `InboxStore.summariesNow`. */
  readonly summariesNow?: InboxStore['summariesNow'];

  abstract init(): Promise<void>;

  create(
    items: readonly NewNotification[],
    now: number,
    marks: readonly SendMark[] = [],
  ): Promise<CreateResult[]> {
    if (items.length === 0) return Promise.resolve([]);
    return this.runner.run(this.createProgram(items, now, marks), createIsAtomic(items, marks));
  }

  appliedSends(keys: readonly string[]): Promise<Map<string, AppliedSend>> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        const found = yield* rowsIn(`SELECT send_key, outcomes FROM ${t.sends}`, 'send_key', keys);
        return new Map(
          found.map((r): [string, AppliedSend] => [
            String(r['send_key']),
            (JSON.parse(String(r['outcomes'])) as [string, CreateOutcome][]).map(
              ([id, outcome]) => ({ id, outcome }),
            ),
          ]),
        );
      })(),
      false,
    );
  }

  byIds(ids: readonly string[]): Promise<StoredNotification[]> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        const found = yield* rowsIn(
          `SELECT ${RETURNING_COLUMNS} FROM ${t.notifications}`,
          'id',
          ids,
        );
        return found.map(rowToNotification);
      })(),
      false,
    );
  }

  private *createProgram(
    items: readonly NewNotification[],
    now: number,
    marks: readonly SendMark[],
  ): Program<CreateResult[]> {
    if (this.dialect === 'postgres') {
      // Two nodes creating with the same key must not both miss each other's row: each key
      // is locked until COMMIT, in one sorted order so two batches never deadlock.
      const keys = new Set<string>();
      for (const i of items) {
        if (i.dedupKey !== undefined) keys.add(`${i.owner}\nd\n${i.dedupKey}`);
        if (i.collapseKey !== undefined) keys.add(`${i.owner}\nc\n${i.collapseKey}`);
      }
      for (const key of [...keys].sort()) {
        yield* rows('SELECT pg_advisory_xact_lock(?::int, hashtext(?))', [
          STORM_LOCK,
          `${this.lockNamespace}\n${key}`,
        ]);
      }
    }
    const results: (CreateResult | undefined)[] = new Array<CreateResult | undefined>(items.length);
    const inserts: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.dedupKey !== undefined) {
        const window = item.dedupWindowMs ?? 0;
        const [found] = yield* rows(dedupLookup(this.t), [item.owner, item.dedupKey, now - window]);
        if (found) {
          results[i] = { outcome: 'deduplicated', notification: rowToNotification(found) };
          continue;
        }
      }
      if (item.collapseKey !== undefined && initialStatus(item) === 'delivered') {
        const [target] = yield* rows(collapseLookup(this.t), [item.owner, item.collapseKey, now]);
        if (target) {
          const q = collapseUpdate(this.t, String(target['id']), item, this.dialect);
          const [updated] = yield* rows(q.sql, q.params);
          if (updated) {
            results[i] = { outcome: 'collapsed', notification: rowToNotification(updated) };
            continue;
          }
        }
      }
      inserts.push(i);
    }
    for (const batch of chunks(inserts, INSERT_BATCH)) {
      const params: unknown[] = [];
      for (const i of batch) for (const v of insertValues(items[i]!, this.dialect)) params.push(v);
      yield* exec(insertStatement(this.t, batch.length), params);
      for (const i of batch) {
        const item = items[i]!;
        const status = initialStatus(item);
        results[i] = {
          outcome: status === 'scheduled' ? 'scheduled' : 'created',
          notification: storedAsNew(item, status),
        };
      }
    }
    const done = results.map((r) => {
      if (!r) throw new Error('create: an item has no result');
      return r;
    });
    for (const m of marks) {
      const outcomes = done
        .slice(m.from, m.from + m.count)
        .map((r) => [r.notification.id, r.outcome]);
      yield* exec(`INSERT INTO ${this.t.sends} (send_key, outcomes, created_at) VALUES (?, ?, ?)`, [
        m.key,
        JSON.stringify(outcomes),
        now,
      ]);
    }
    return done;
  }

  locate(
    id: string,
    now: number,
  ): Promise<{ owner: string; status: NotificationStatus } | undefined> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        const [row] = yield* rows(
          `SELECT owner, status FROM ${t.notifications}
           WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)`,
          [id, now],
        );
        return row
          ? { owner: String(row['owner']), status: String(row['status']) as NotificationStatus }
          : undefined;
      })(),
      false,
    );
  }

  list(
    scope: InboxScope,
    filter: InboxFilter,
    limit: number,
    before: PagePosition | undefined,
    now: number,
  ): Promise<StoredNotification[]> {
    const { t, dialect } = this;
    return this.runner.run(
      (function* () {
        const own = listQuery(t, { owner: scopeOwner(scope) }, filter, limit, before, now, dialect);
        const found = (yield* rows(own.sql, own.params)).map(rowToNotification);
        if (scope.kind !== 'user') return found;
        // A user's inbox is their own rows merged with EVERYONE rows: two index range scans,
        // each bounded by the page size, whatever the size of either.
        const all = listQuery(
          t,
          { everyoneFor: scope.userId },
          filter,
          limit,
          before,
          now,
          dialect,
        );
        const everyone = (yield* rows(all.sql, all.params)).map(rowToNotification);
        if (everyone.length === 0) return found;
        return [...found, ...everyone].sort(compareNewestFirst).slice(0, limit);
      })(),
      false,
    );
  }

  mark(
    scope: InboxScope,
    filter: InboxFilter,
    change: StateChange,
    now: number,
  ): Promise<string[]> {
    if (scope.kind === 'everyone') {
      return Promise.reject(new Error('EVERYONE rows have no shared state; mark them per user'));
    }
    const { t, dialect } = this;
    return this.runner.run(
      (function* () {
        const own = markOwnQuery(t, scopeOwner(scope), filter, change, now, dialect);
        const ids = (yield* rows(own.sql, own.params)).map((r) => String(r['id']));
        if (scope.kind === 'user') {
          const q = everyoneTargetsQuery(t, scope.userId, filter, change, now, dialect);
          const targets = (yield* rows(q.sql, q.params)).map((r) => String(r['id']));
          for (const batch of chunks(targets, IN_BATCH)) {
            const up = stateUpsert(t, scope.userId, batch, change, now);
            yield* exec(up.sql, up.params);
          }
          ids.push(...targets);
        }
        return ids;
      })(),
      true,
    );
  }

  remove(scope: InboxScope, filter: InboxFilter, now: number): Promise<string[]> {
    const { t, dialect } = this;
    return this.runner.run(
      (function* () {
        const own = removeOwnQuery(t, scopeOwner(scope), filter, now, dialect);
        const ids = (yield* rows(own.sql, own.params)).map((r) => String(r['id']));
        if (scope.kind === 'everyone') {
          for (const batch of chunks(ids, IN_BATCH)) {
            yield* exec(
              `DELETE FROM ${t.state} WHERE notification_id IN (${batch.map(() => '?').join(', ')})`,
              batch,
            );
          }
        }
        if (scope.kind === 'user') {
          const del = { kind: 'delete' } as const;
          const q = everyoneTargetsQuery(t, scope.userId, filter, del, now, dialect);
          const targets = (yield* rows(q.sql, q.params)).map((r) => String(r['id']));
          for (const batch of chunks(targets, IN_BATCH)) {
            const up = stateUpsert(t, scope.userId, batch, del, now);
            yield* exec(up.sql, up.params);
          }
          ids.push(...targets);
        }
        return ids;
      })(),
      true,
    );
  }

  summaries(scopes: readonly InboxScope[], now: number): Promise<InboxSummary[]> {
    if (scopes.length === 0) return Promise.resolve([]);
    return this.runner.run(this.summariesProgram(scopes, now), false);
  }

  private summariesProgram(scopes: readonly InboxScope[], now: number): Program<InboxSummary[]> {
    const t = this.t;
    return (function* () {
      const owners = [...new Set(scopes.map(scopeOwner))];
      const byOwner = new Map<string, Mutable>();
      for (const o of owners) byOwner.set(o, mutableSummary());
      for (const batch of chunks(owners, IN_BATCH)) {
        const u = unreadCountsQuery(t, batch, now);
        for (const r of yield* rows(u.sql, u.params)) {
          const s = byOwner.get(String(r['owner']));
          if (s) addUnread(s, r['category'], count(r['unread']), count(r['unseen']));
        }
        const a = unackedCountsQuery(t, batch, now);
        for (const r of yield* rows(a.sql, a.params)) {
          const s = byOwner.get(String(r['owner']));
          if (s) addUnacked(s, r['severity'], count(r['unacked']));
        }
      }
      const users = [...new Set(scopes.flatMap((s) => (s.kind === 'user' ? [s.userId] : [])))];
      if (users.length > 0) {
        // EVERYONE rows count for every user, less what each user has changed since.
        const base = everyoneCountsQuery(t, now);
        const everyone = yield* rows(base.sql, base.params);
        if (everyone.length > 0) {
          for (const user of users) {
            const s = byOwner.get(`user:${user}`)!;
            for (const r of everyone) {
              const n = count(r['n']);
              addUnread(s, r['category'], n, n);
              addUnacked(s, r['severity'], n);
            }
          }
          for (const batch of chunks(users, IN_BATCH)) {
            const q = everyoneStateQuery(t, batch, now);
            for (const r of yield* rows(q.sql, q.params)) {
              const s = byOwner.get(`user:${String(r['user_id'])}`);
              if (!s) continue;
              const gone = r['archived_at'] !== null || r['deleted_at'] !== null;
              const read = r['read_at'] !== null;
              // The base counted the row unread and unseen; take back what no longer holds.
              if (gone || read) addUnread(s, r['category'], -1, -1);
              else if (r['seen_at'] !== null) s.unseen--;
              if (gone || r['acked_at'] !== null) addUnacked(s, r['severity'], -1);
            }
          }
        }
      }
      return scopes.map((scope) => freeze(byOwner.get(scopeOwner(scope))!));
    })();
  }

  claimDue(now: number, leaseMs: number, limit: number): Promise<StoredNotification[]> {
    const t = this.t;
    // PostgreSQL: SKIP LOCKED lets several nodes claim different rows at once.
    const skip = this.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
    return this.runner.run(
      (function* () {
        const claimed = yield* rows(
          `UPDATE ${t.notifications} SET claimed_until = ?
           WHERE id IN (
             SELECT id FROM ${t.notifications}
             WHERE status = 'scheduled' AND deliver_at <= ?
               AND (claimed_until IS NULL OR claimed_until <= ?)
             ORDER BY deliver_at LIMIT ? ${skip})
           RETURNING ${RETURNING_COLUMNS}`,
          [now + leaseMs, now, now, limit],
        );
        return claimed
          .map(rowToNotification)
          .sort((a, b) => (a.deliverAt ?? 0) - (b.deliverAt ?? 0));
      })(),
      true,
    );
  }

  markDelivered(rowsToMark: readonly { id: string; muted: boolean }[], now: number): Promise<void> {
    const { t, dialect } = this;
    return this.runner.run(
      (function* () {
        for (const r of rowsToMark) {
          yield* exec(
            `UPDATE ${t.notifications}
             SET status = 'delivered', claimed_until = NULL, created_at = ?, updated_at = ?, muted = ?
             WHERE id = ? AND status = 'scheduled'`,
            [now, now, dialect === 'postgres' ? r.muted : r.muted ? 1 : 0, r.id],
          );
        }
      })(),
      true,
    );
  }

  /**
   * Separate short statements, not one transaction: retention must never hold the writer for
   * long (SQLite has one), and each statement is safe on its own. The count limit looks at
   * the owners in slices of `TRIM_OWNERS_PER_SLICE`, with a turn of the event loop between
   * slices: one `GROUP BY owner` over every delivered notification held the event loop for
   * 95 ms per 300,000 notifications on SQLite, at every sweep, whatever it deleted.
   */
  async trim(policy: InboxRetention, now: number): Promise<number> {
    const t = this.t;
    let deleted = await this.runner.run(
      (function* () {
        let n = yield* exec(
          `DELETE FROM ${t.notifications} WHERE expires_at IS NOT NULL AND expires_at <= ?`,
          [now],
        );
        if (policy.maxAgeMs > 0) {
          n += yield* exec(
            `DELETE FROM ${t.notifications} WHERE created_at < ? AND status = 'delivered'`,
            [now - policy.maxAgeMs],
          );
        }
        // Marks are no rows of anyone's inbox: not counted as deleted notifications.
        yield* exec(`DELETE FROM ${t.sends} WHERE created_at < ?`, [
          now - policy.sendMarksMaxAgeMs,
        ]);
        return n;
      })(),
      false,
    );
    const max = policy.maxPerOwner;
    /** The owner the next slice starts after. */
    let after = '';
    await inTurns(async () => {
      if (max <= 0) return false;
      const from = after;
      const slice = await this.runner.run(
        (function* () {
          const owners = yield* rows(
            `SELECT owner, count(*) AS n FROM ${t.notifications}
             WHERE owner > ? AND status = 'delivered'
             GROUP BY owner ORDER BY owner LIMIT ?`,
            [from, TRIM_OWNERS_PER_SLICE],
          );
          let n = 0;
          for (const o of owners) {
            if (count(o['n']) <= max) continue;
            const owner = String(o['owner']);
            const [oldestKept] = yield* rows(
              `SELECT created_at, id FROM ${t.notifications}
               WHERE owner = ? AND status = 'delivered'
               ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?`,
              [owner, max - 1],
            );
            if (!oldestKept) continue;
            n += yield* exec(
              `DELETE FROM ${t.notifications} AS n
               WHERE n.owner = ? AND n.status = 'delivered' AND (n.created_at, n.id) < (?, ?)`,
              [owner, count(oldestKept['created_at']), String(oldestKept['id'])],
            );
          }
          const last = owners.at(-1);
          const full = owners.length === TRIM_OWNERS_PER_SLICE;
          return { n, next: full && last ? String(last['owner']) : undefined };
        })(),
        false,
      );
      deleted += slice.n;
      if (slice.next === undefined) return false;
      after = slice.next;
      return true;
    });
    await this.runner.run(
      exec(
        `DELETE FROM ${t.state} AS s
         WHERE NOT EXISTS (SELECT 1 FROM ${t.notifications} n WHERE n.id = s.notification_id)`,
      ),
      false,
    );
    return deleted;
  }

  putTemplate(name: string, spec: TemplateSpec, now: number): Promise<StoredTemplate> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        yield* exec(
          `INSERT INTO ${t.templates} (name, spec, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
          [name, JSON.stringify(spec), now],
        );
        return Object.assign({}, spec, { name, updatedAt: now });
      })(),
      false,
    );
  }

  getTemplate(name: string): Promise<StoredTemplate | undefined> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        const [row] = yield* rows(
          `SELECT name, spec, updated_at FROM ${t.templates} WHERE name = ?`,
          [name],
        );
        return row ? templateOf(row) : undefined;
      })(),
      false,
    );
  }

  listTemplates(): Promise<StoredTemplate[]> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        const found = yield* rows(
          `SELECT name, spec, updated_at FROM ${t.templates} ORDER BY name`,
        );
        return found.map(templateOf);
      })(),
      false,
    );
  }

  deleteTemplate(name: string): Promise<boolean> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        return (yield* exec(`DELETE FROM ${t.templates} WHERE name = ?`, [name])) > 0;
      })(),
      false,
    );
  }

  preferences(userIds: readonly string[]): Promise<Map<string, Preferences>> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        const out = new Map<string, Preferences>();
        const unique = [...new Set(userIds)];
        for (const u of unique) out.set(u, DEFAULT_PREFERENCES);
        const found = yield* rowsIn(
          `SELECT user_id, spec FROM ${t.preferences}`,
          'user_id',
          unique,
        );
        for (const r of found) out.set(String(r['user_id']), preferencesOf(String(r['spec'])));
        return out;
      })(),
      false,
    );
  }

  putPreferences(userId: string, prefs: Preferences, now: number): Promise<void> {
    const t = this.t;
    return this.runner.run(
      (function* () {
        yield* exec(
          `INSERT INTO ${t.preferences} (user_id, spec, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (user_id) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
          [userId, JSON.stringify(prefs), now],
        );
      })(),
      false,
    );
  }
}

type Mutable = {
  unread: number;
  unseen: number;
  unreadByCategory: Record<string, number>;
  unacked: number;
  unackedBySeverity: Record<Severity, number>;
};

function mutableSummary(): Mutable {
  const e = emptySummary();
  return {
    unread: e.unread,
    unseen: e.unseen,
    unreadByCategory: {},
    unacked: e.unacked,
    unackedBySeverity: { ...e.unackedBySeverity },
  };
}

function addUnread(s: Mutable, category: unknown, unread: number, unseen: number): void {
  s.unread += unread;
  s.unseen += unseen;
  if (category !== null && category !== undefined) {
    const c = asText(category);
    s.unreadByCategory[c] = (s.unreadByCategory[c] ?? 0) + unread;
  }
}

function addUnacked(s: Mutable, severity: unknown, n: number): void {
  if (severity === null || severity === undefined) return;
  const sev = asText(severity) as Severity;
  if (!(SEVERITIES as readonly string[]).includes(sev)) return;
  s.unacked += n;
  s.unackedBySeverity[sev] += n;
}

function freeze(s: Mutable): InboxSummary {
  const byCategory: Record<string, number> = {};
  for (const [c, n] of Object.entries(s.unreadByCategory)) if (n > 0) byCategory[c] = n;
  return {
    unread: s.unread,
    unseen: s.unseen,
    unreadByCategory: byCategory,
    unacked: s.unacked,
    unackedBySeverity: { ...s.unackedBySeverity },
  };
}

function templateOf(row: Row): StoredTemplate {
  const spec = JSON.parse(String(row['spec'])) as TemplateSpec;
  return Object.assign(spec, { name: String(row['name']), updatedAt: count(row['updated_at']) });
}

function preferencesOf(text: string): Preferences {
  const raw = JSON.parse(text) as Partial<Preferences>;
  const min = raw.minPriority;
  return {
    mutedCategories: Array.isArray(raw.mutedCategories) ? raw.mutedCategories.map(String) : [],
    minPriority:
      typeof min === 'string' && (PRIORITIES as readonly string[]).includes(min) ? min : 'low',
  };
}

/** Interprets a program with an asynchronous statement runner (PostgreSQL). */
export async function driveAsync<T>(
  program: Program<T>,
  step: (s: Step) => Promise<unknown>,
): Promise<T> {
  let next = program.next();
  while (!next.done) next = program.next(await step(next.value));
  return next.value;
}
