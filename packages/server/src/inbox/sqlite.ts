import type Database from 'better-sqlite3';
import { SqlInbox, type Program, type SqlRunner, type Step } from './sql/store.js';

/**
 * Prepared statements kept per connection. IN lists make one variant per length, and a
 * group of sends asks several such questions: at 256 the cache filled and was cleared
 * every few hundred groups, and every statement was prepared again.
 */
const STATEMENT_CACHE = 2048;

/**
 * Runs inbox programs on the event store's SQLite connection. better-sqlite3 is
 * synchronous, so a whole program runs inside one `db.transaction` call: no other
 * statement on the shared connection (an event append, another request) can interleave.
 */
class SqliteRunner implements SqlRunner {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  run<T>(program: Program<T>, atomic: boolean): Promise<T> {
    try {
      return Promise.resolve(this.runNow(program, atomic));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Inside an open transaction (the event store's group commit), a nested one is a savepoint. */
  runNow<T>(program: Program<T>, atomic: boolean): T {
    const drive = (): T => {
      let next = program.next();
      while (!next.done) next = program.next(this.step(next.value));
      return next.value;
    };
    // IMMEDIATE: a program that reads before it writes would otherwise fail at its first
    // write when another process (a worker of the same machine) committed in between.
    return atomic ? this.db.transaction(drive).immediate() : drive();
  }

  private step(s: Step): unknown {
    let stmt = this.statements.get(s.sql);
    if (!stmt) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      stmt = this.db.prepare(s.sql);
      this.statements.set(s.sql, stmt);
    }
    return s.kind === 'rows' ? stmt.all(...s.params) : stmt.run(...s.params).changes;
  }
}

const TABLES = {
  notifications: 'inbox_notifications',
  state: 'inbox_user_state',
  templates: 'inbox_templates',
  preferences: 'inbox_preferences',
  sends: 'inbox_sends',
};

/**
 * The embedded inbox, in the event store's SQLite file (WAL).
 *
 * Indexes, each for one question asked of a large inbox:
 * - `(owner, created_at, id)`: a page of one inbox, newest first, continuing after a
 *   cursor; one range scan whatever the number of owners or rows.
 * - partial `inbox_unread` / `inbox_unacked`, covering: the summary reads only unread or
 *   unacknowledged rows, never the read history.
 * - partial `inbox_due`: the scheduler's poll touches scheduled rows only.
 * - partial `(owner, collapse_key|dedup_key, created_at, id)`: storm control finds the
 *   newest row with a key without reading the rest of the inbox.
 * - `(created_at)`, partial `(expires_at)`: retention deletes old and expired rows.
 * - `inbox_sends (created_at)`: retention deletes old applied-send marks.
 */
export class SqliteInbox extends SqlInbox {
  constructor(private readonly db: Database.Database) {
    super(new SqliteRunner(db), TABLES, 'sqlite');
  }

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS inbox_notifications (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        data TEXT,
        category TEXT,
        priority TEXT NOT NULL,
        severity TEXT,
        url TEXT,
        template TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER,
        deliver_at INTEGER,
        status TEXT NOT NULL,
        claimed_until INTEGER,
        event_type TEXT NOT NULL,
        durable INTEGER NOT NULL,
        muted INTEGER NOT NULL DEFAULT 0,
        collapse_key TEXT,
        collapsed_count INTEGER NOT NULL DEFAULT 0,
        dedup_key TEXT,
        read_at INTEGER,
        seen_at INTEGER,
        acked_at INTEGER,
        acked_by TEXT,
        archived_at INTEGER
      );
      CREATE INDEX IF NOT EXISTS inbox_by_owner_time
        ON inbox_notifications (owner, created_at, id);
      CREATE INDEX IF NOT EXISTS inbox_unread
        ON inbox_notifications (owner, category, seen_at, expires_at)
        WHERE read_at IS NULL AND archived_at IS NULL AND status = 'delivered';
      CREATE INDEX IF NOT EXISTS inbox_unacked
        ON inbox_notifications (owner, severity, expires_at)
        WHERE acked_at IS NULL AND severity IS NOT NULL AND archived_at IS NULL
          AND status = 'delivered';
      CREATE INDEX IF NOT EXISTS inbox_due
        ON inbox_notifications (deliver_at) WHERE status = 'scheduled';
      CREATE INDEX IF NOT EXISTS inbox_collapse
        ON inbox_notifications (owner, collapse_key, created_at, id) WHERE collapse_key IS NOT NULL;
      CREATE INDEX IF NOT EXISTS inbox_dedup
        ON inbox_notifications (owner, dedup_key, created_at, id) WHERE dedup_key IS NOT NULL;
      CREATE INDEX IF NOT EXISTS inbox_by_time ON inbox_notifications (created_at);
      CREATE INDEX IF NOT EXISTS inbox_expiring
        ON inbox_notifications (expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE IF NOT EXISTS inbox_user_state (
        user_id TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        read_at INTEGER,
        seen_at INTEGER,
        acked_at INTEGER,
        acked_by TEXT,
        archived_at INTEGER,
        deleted_at INTEGER,
        PRIMARY KEY (user_id, notification_id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS inbox_user_state_by_notification
        ON inbox_user_state (notification_id);
      CREATE TABLE IF NOT EXISTS inbox_templates (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS inbox_preferences (
        user_id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS inbox_sends (
        send_key TEXT PRIMARY KEY,
        outcomes TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS inbox_sends_by_time ON inbox_sends (created_at);
    `);
  }
}
