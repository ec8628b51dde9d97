import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` on one pooled client inside a transaction. A client whose ROLLBACK fails has
 * lost its connection: it is released broken, so the pool drops it.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Takes the transaction-scoped advisory lock (`lock`, schema): nodes that start at once set
 * up a schema one after the other, and the later ones find the work done.
 */
export async function lockSchemaSetup(
  client: PoolClient,
  lock: number,
  schema: string,
): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [lock, schema]);
}

/** One schema change; it runs once per schema. Never edit one that has shipped: add the next. */
export interface Migration<Tables> {
  readonly version: number;
  readonly name: string;
  readonly sql: (tables: Tables) => string;
}

/**
 * Applies the migrations not yet recorded in `table` (quoted and qualified), in order, each
 * recorded in the same transaction. Call it after `lockSchemaSetup`, inside `inTransaction`.
 */
export async function applyMigrations<Tables>(
  client: PoolClient,
  table: string,
  migrations: readonly Migration<Tables>[],
  tables: Tables,
): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS ${table} (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  const done = await client.query<{ version: number }>(`SELECT version FROM ${table}`);
  const applied = new Set(done.rows.map((r) => r.version));
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    await client.query(m.sql(tables));
    await client.query(`INSERT INTO ${table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
  }
}
