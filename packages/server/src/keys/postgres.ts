import { escapeIdentifier, type Pool } from 'pg';
import {
  type ApiKeyRecord,
  COLUMNS,
  type KeyRow,
  type KeyStore,
  fromRow,
  publicPart,
} from './key-store.js';

/** API keys in the PostgreSQL database of the cluster store (same schema). */
export class PostgresKeyStore implements KeyStore {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.table = `${escapeIdentifier(schema)}.api_keys`;
  }

  async init(): Promise<void> {
    await this.pool.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, publish TEXT NOT NULL,
      admin BOOLEAN NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT)`);
  }

  async create(r: ApiKeyRecord & { hash: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.table} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [r.id, r.name, r.hash, JSON.stringify(r.publish), r.admin, r.createdAt, r.revokedAt],
    );
  }

  async find(id: string): Promise<(ApiKeyRecord & { hash: string }) | undefined> {
    const res = await this.pool.query<KeyRow>(
      `SELECT ${COLUMNS} FROM ${this.table} WHERE id = $1`,
      [id],
    );
    const row = res.rows[0];
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const res = await this.pool.query<KeyRow>(
      `SELECT ${COLUMNS} FROM ${this.table} ORDER BY created_at`,
    );
    return res.rows.map((r) => publicPart(fromRow(r)));
  }

  async revoke(id: string, now: number): Promise<boolean> {
    const res = await this.pool.query(
      `UPDATE ${this.table} SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`,
      [now, id],
    );
    return (res.rowCount ?? 0) > 0;
  }
}
