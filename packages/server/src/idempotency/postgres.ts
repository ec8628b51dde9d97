import { escapeIdentifier, type Pool } from 'pg';
import { inTransaction, lockSchemaSetup } from '../store/pg-schema.js';
import {
  type ClaimRef,
  type ClaimRequest,
  type IdempotencyStore,
  type RecordRow,
  type StoredResponse,
  toRecord,
} from './idempotency.js';

/** Advisory lock key that serializes creating the table when several nodes start at once. */
const TABLE_LOCK = 0x4852_4c49; // "HRLI"

/**
 * Idempotency records in the cluster's PostgreSQL database (the store's pool and schema),
 * shared by every node.
 *
 * The claim is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`: a second insert of
 * the same key waits on the unique index until the first commits, then finds a live row and
 * changes nothing; so exactly one request, on any node, owns a key. A replaced pending row of
 * the same fingerprint keeps its plan (SET reads the old row).
 */
export class PostgresIdempotencyStore implements IdempotencyStore {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
  ) {
    this.table = `${escapeIdentifier(schema)}.idempotency_keys`;
  }

  async init(): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await lockSchemaSetup(client, TABLE_LOCK, this.schema);
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table} (
          scope text NOT NULL,
          idem_key text NOT NULL,
          fingerprint text NOT NULL,
          owner text NOT NULL,
          state text NOT NULL,
          status integer,
          body text,
          expires_at bigint NOT NULL,
          plan text,
          PRIMARY KEY (scope, idem_key)
        )`);
      // A table made before plans were kept: the column is added (its rows have none). Looked
      // up first: ALTER TABLE locks the table even when it changes nothing, and other nodes
      // are claiming keys in it.
      const plan = await client.query(
        `SELECT 1 FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = 'idempotency_keys' AND column_name = 'plan'`,
        [this.schema],
      );
      if (plan.rowCount === 0) await client.query(`ALTER TABLE ${this.table} ADD COLUMN plan text`);
      await client.query(
        `CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON ${this.table} (expires_at)`,
      );
    });
  }

  async claim(c: ClaimRequest) {
    // A record released or swept between the two statements is claimed again; three tries
    // are plenty (each lost race means another request made progress).
    for (let attempt = 0; attempt < 3; attempt++) {
      const won = await this.pool.query<{ plan: string }>(
        `INSERT INTO ${this.table} AS t
           (scope, idem_key, fingerprint, owner, state, expires_at, plan)
         VALUES ($1, $2, $3, $4, 'pending', $5, $7)
         ON CONFLICT (scope, idem_key) DO UPDATE SET
           plan = CASE WHEN t.state = 'pending' AND t.fingerprint = excluded.fingerprint
                  THEN coalesce(t.plan, excluded.plan) ELSE excluded.plan END,
           fingerprint = excluded.fingerprint, owner = excluded.owner, state = 'pending',
           status = NULL, body = NULL, expires_at = excluded.expires_at
         WHERE t.expires_at <= $6
         RETURNING plan`,
        [c.scope, c.key, c.fingerprint, c.owner, c.leaseUntil, c.now, c.plan],
      );
      const plan = won.rows[0]?.plan;
      if (plan !== undefined) return { claimed: true as const, plan };
      const found = await this.pool.query<RecordRow>(
        `SELECT fingerprint, state, status, body FROM ${this.table}
         WHERE scope = $1 AND idem_key = $2`,
        [c.scope, c.key],
      );
      const row = found.rows[0];
      if (row) return { claimed: false as const, record: toRecord(row) };
    }
    throw new Error('idempotency claim kept losing to concurrent deletes');
  }

  async complete(c: ClaimRef, response: StoredResponse, expiresAt: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET state = 'done', status = $1, body = $2, expires_at = $3
       WHERE scope = $4 AND idem_key = $5 AND owner = $6`,
      [response.status, response.body, expiresAt, c.scope, c.key, c.owner],
    );
  }

  async release(c: ClaimRef): Promise<void> {
    await this.pool.query(
      `DELETE FROM ${this.table} WHERE scope = $1 AND idem_key = $2 AND owner = $3`,
      [c.scope, c.key, c.owner],
    );
  }

  async extend(c: ClaimRef, leaseUntil: number): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET expires_at = $1
       WHERE scope = $2 AND idem_key = $3 AND owner = $4 AND state = 'pending'`,
      [leaseUntil, c.scope, c.key, c.owner],
    );
  }

  async sweep(now: number): Promise<number> {
    const r = await this.pool.query(`DELETE FROM ${this.table} WHERE expires_at <= $1`, [now]);
    return r.rowCount ?? 0;
  }
}
