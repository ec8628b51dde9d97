import type Database from 'better-sqlite3';
import {
  type ClaimRef,
  type ClaimRequest,
  type IdempotencyStore,
  type RecordRow,
  type StoredResponse,
  toRecord,
} from './idempotency.js';

/**
 * Idempotency records in the SQLite file of the embedded store (the same handle). The claim
 * is one statement: an insert that, on a conflict, replaces the row only when it has
 * expired; the primary key makes it atomic even for several processes on one file. A
 * replaced pending row of the same fingerprint keeps its plan (SET reads the old row).
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  private statements!: ReturnType<SqliteIdempotencyStore['prepare']>;

  constructor(private readonly db: Database.Database) {}

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS idempotency_keys (
        scope TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        owner TEXT NOT NULL,
        state TEXT NOT NULL,
        status INTEGER,
        body TEXT,
        expires_at INTEGER NOT NULL,
        plan TEXT,
        PRIMARY KEY (scope, idem_key)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);
    `);
    // A file made before plans were kept: the column is added (its rows have none).
    const columns = this.db.pragma('table_info(idempotency_keys)') as { name: string }[];
    if (!columns.some((c) => c.name === 'plan')) {
      this.db.exec('ALTER TABLE idempotency_keys ADD COLUMN plan TEXT');
    }
    this.statements = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      claim: db.prepare<
        {
          scope: string;
          key: string;
          fp: string;
          owner: string;
          now: number;
          until: number;
          plan: string;
        },
        { plan: string }
      >(
        `INSERT INTO idempotency_keys
           (scope, idem_key, fingerprint, owner, state, expires_at, plan)
         VALUES (@scope, @key, @fp, @owner, 'pending', @until, @plan)
         ON CONFLICT (scope, idem_key) DO UPDATE SET
           plan = CASE WHEN state = 'pending' AND fingerprint = excluded.fingerprint
                  THEN coalesce(plan, excluded.plan) ELSE excluded.plan END,
           fingerprint = excluded.fingerprint, owner = excluded.owner, state = 'pending',
           status = NULL, body = NULL, expires_at = excluded.expires_at
         WHERE idempotency_keys.expires_at <= @now
         RETURNING plan`,
      ),
      find: db.prepare<[string, string], RecordRow>(
        'SELECT fingerprint, state, status, body FROM idempotency_keys WHERE scope = ? AND idem_key = ?',
      ),
      complete: db.prepare<[number, string, number, string, string, string]>(
        `UPDATE idempotency_keys SET state = 'done', status = ?, body = ?, expires_at = ?
         WHERE scope = ? AND idem_key = ? AND owner = ?`,
      ),
      release: db.prepare<[string, string, string]>(
        'DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND owner = ?',
      ),
      extend: db.prepare<[number, string, string, string]>(
        `UPDATE idempotency_keys SET expires_at = ?
         WHERE scope = ? AND idem_key = ? AND owner = ? AND state = 'pending'`,
      ),
      sweep: db.prepare<[number]>('DELETE FROM idempotency_keys WHERE expires_at <= ?'),
    };
  }

  async claim(c: ClaimRequest) {
    const s = this.statements;
    // One transaction: its first statement takes the write lock, so the row the second one
    // reads is the row that made the insert lose.
    return this.db.transaction(() => {
      const won = s.claim.get({
        scope: c.scope,
        key: c.key,
        fp: c.fingerprint,
        owner: c.owner,
        now: c.now,
        until: c.leaseUntil,
        plan: c.plan,
      });
      if (won) return { claimed: true as const, plan: won.plan };
      const row = s.find.get(c.scope, c.key);
      if (!row) throw new Error('idempotency record vanished inside its transaction');
      return { claimed: false as const, record: toRecord(row) };
    })();
  }

  async complete(c: ClaimRef, response: StoredResponse, expiresAt: number): Promise<void> {
    this.statements.complete.run(
      response.status,
      response.body,
      expiresAt,
      c.scope,
      c.key,
      c.owner,
    );
  }

  async release(c: ClaimRef): Promise<void> {
    this.statements.release.run(c.scope, c.key, c.owner);
  }

  async extend(c: ClaimRef, leaseUntil: number): Promise<void> {
    this.statements.extend.run(leaseUntil, c.scope, c.key, c.owner);
  }

  async sweep(now: number): Promise<number> {
    return this.statements.sweep.run(now).changes;
  }
}
