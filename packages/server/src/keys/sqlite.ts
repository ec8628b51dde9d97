import type Database from 'better-sqlite3';
import {
  type ApiKeyRecord,
  COLUMNS,
  type KeyRow,
  type KeyStore,
  fromRow,
  publicPart,
} from './key-store.js';

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
      .prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`)
      .get(id);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.db
      .prepare<[], KeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at`)
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
