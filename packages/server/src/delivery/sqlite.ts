import type Database from 'better-sqlite3';
import {
  deliveryDdl,
  deliveryIndexes,
  SqlDeliveryStore,
  type SqlExec,
  type Statement,
} from './sql-store.js';

/**
 * Prepared statements kept. Delivery routing reads three IN lists per group of sends, one
 * variant per length (1-64 at least): at 128 the cache was cleared every few dozen groups.
 */
const STATEMENT_CACHE = 1024;

/**
 * Runs statements on the event store's SQLite connection. better-sqlite3 is synchronous, so
 * each statement (and each batch, inside one `db.transaction`) runs whole before any
 * other statement on the shared connection.
 */
class SqliteExec implements SqlExec {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private prepare(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  rows<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    return settle(() => this.prepare(sql).all(...params) as T[]);
  }

  run(sql: string, params: readonly unknown[]): Promise<number> {
    return settle(() => this.prepare(sql).run(...params).changes);
  }

  batch(statements: readonly Statement[]): Promise<number[]> {
    return settle(() =>
      this.db
        .transaction(() => statements.map((s) => this.prepare(s.sql).run(...s.params).changes))
        .immediate(),
    );
  }
}

/** The synchronous call's result or error, as a promise (the seam is asynchronous). */
function settle<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

const TABLES = {
  jobs: 'delivery_jobs',
  subscriptions: 'delivery_push_subscriptions',
  webhooks: 'delivery_webhooks',
  preferences: 'delivery_preferences',
  settings: 'delivery_settings',
  stats: 'delivery_stats',
};

/**
 * The embedded delivery store, in the event store's SQLite file. A claim is one UPDATE …
 * RETURNING: SQLite has one writer at a time (even across processes on the file), so two
 * claims never see the same job free.
 */
export class SqliteDeliveryStore extends SqlDeliveryStore {
  constructor(private readonly db: Database.Database) {
    super(new SqliteExec(db), TABLES);
  }

  async init(): Promise<void> {
    this.db.exec(deliveryDdl(this.t, 'INTEGER') + deliveryIndexes(this.t));
  }

  protected claimSql(): string {
    const t = this.t.jobs;
    return `UPDATE ${t} SET lease_owner = ?, lease_until = ?
      WHERE id IN (SELECT id FROM ${t}
                   WHERE state = 'pending' AND not_before <= ? AND lease_until <= ?
                   ORDER BY not_before LIMIT ?)
      RETURNING *`;
  }
}
