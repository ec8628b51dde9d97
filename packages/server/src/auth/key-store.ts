import { escapeIdentifier, type Pool } from 'pg';
import type Database from 'better-sqlite3';
import { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';

/**
 * Stored publisher API keys. Only a SHA-256 hash of each key is kept: a leaked database
 * does not leak working keys. A key reads `hk_<id>_<secret>`; the id finds the record, the
 * hash of the whole key must match it (compared in constant time by the caller).
 *
 * Contract: `create` fails on a duplicate id; `find` returns revoked keys too (the caller
 * refuses them); `revoke` is idempotent and returns false for an unknown id.
 */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  /** Channels the key may publish to (grants; see grants.ts). */
  readonly publish: readonly string[];
  /** May use the admin API. */
  readonly admin: boolean;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

export interface KeyStore {
  init(): Promise<void>;
  create(record: ApiKeyRecord & { hash: string }): Promise<void>;
  find(id: string): Promise<(ApiKeyRecord & { hash: string }) | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  revoke(id: string, now: number): Promise<boolean>;
}

interface Row {
  id: string;
  name: string;
  hash: string;
  publish: string;
  admin: number | boolean;
  created_at: number | string;
  revoked_at: number | string | null;
}

function fromRow(r: Row): ApiKeyRecord & { hash: string } {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    publish: JSON.parse(r.publish) as string[],
    admin: r.admin === true || r.admin === 1,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

function publicPart(r: ApiKeyRecord & { hash: string }): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    publish: r.publish,
    admin: r.admin,
    createdAt: r.createdAt,
    revokedAt: r.revokedAt,
  };
}

const COLUMNS = 'id, name, hash, publish, admin, created_at, revoked_at';

/** API keys in the SQLite file of the embedded store. */
export class SqliteKeyStore implements KeyStore {
  constructor(private readonly db: Database.Database) {}

  async init(): Promise<void> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS api_keys (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, publish TEXT NOT NULL,
      admin INTEGER NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER)`);
  }

  async create(r: ApiKeyRecord & { hash: string }): Promise<void> {
    this.db
      .prepare(`INSERT INTO api_keys (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(
        r.id,
        r.name,
        r.hash,
        JSON.stringify(r.publish),
        r.admin ? 1 : 0,
        r.createdAt,
        r.revokedAt,
      );
  }

  async find(id: string): Promise<(ApiKeyRecord & { hash: string }) | undefined> {
    const row = this.db
      .prepare<[string], Row>(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`)
      .get(id);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.db
      .prepare<[], Row>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at`)
      .all()
      .map((r) => publicPart(fromRow(r)));
  }

  async revoke(id: string, now: number): Promise<boolean> {
    const res = this.db
      .prepare('UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?')
      .run(now, id);
    return res.changes > 0;
  }
}

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
    const res = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM ${this.table} WHERE id = $1`, [
      id,
    ]);
    const row = res.rows[0];
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const res = await this.pool.query<Row>(
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

/** The key store that lives beside an event store, when that store has a database. */
export function keyStoreBeside(store: unknown): KeyStore | undefined {
  if (store instanceof SqliteStore) return new SqliteKeyStore(store.database);
  if (store instanceof PostgresStore)
    return new PostgresKeyStore(store.sharedPool, store.schemaName);
  return undefined;
}
