import { escapeIdentifier, type Pool } from 'pg';
import { toPg } from '../inbox/sql/queries.js';
import { inTransaction, lockSchemaSetup } from '../store/pg-schema.js';
import {
  deliveryDdl,
  deliveryIndexes,
  SqlDeliveryStore,
  type SqlExec,
  type Statement,
} from './sql-store.js';

/** Advisory lock key that serializes creating the tables when several nodes start at once. */
const TABLE_LOCK = 0x4844_4c56; // "HDLV"

class PgExec implements SqlExec {
  constructor(private readonly pool: Pool) {}

  async rows<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    const r = await this.pool.query(toPg(sql), [...params]);
    return r.rows as T[];
  }

  async run(sql: string, params: readonly unknown[]): Promise<number> {
    const r = await this.pool.query(toPg(sql), [...params]);
    return r.rowCount ?? 0;
  }

  batch(statements: readonly Statement[]): Promise<number[]> {
    return inTransaction(this.pool, async (client) => {
      const out: number[] = [];
      for (const s of statements)
        out.push((await client.query(toPg(s.sql), [...s.params])).rowCount ?? 0);
      return out;
    });
  }
}

/**
 * The clustered delivery store, in the event store's PostgreSQL schema and pool. Nodes claim
 * jobs with `FOR UPDATE SKIP LOCKED`: each node takes the due jobs no other node is taking
 * right now, without waiting on them, and the lease in the row keeps them its own after
 * the statement commits.
 */
export class PostgresDeliveryStore extends SqlDeliveryStore {
  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
  ) {
    const s = escapeIdentifier(schema);
    super(new PgExec(pool), {
      jobs: `${s}.delivery_jobs`,
      subscriptions: `${s}.delivery_push_subscriptions`,
      webhooks: `${s}.delivery_webhooks`,
      preferences: `${s}.delivery_preferences`,
      settings: `${s}.delivery_settings`,
      stats: `${s}.delivery_stats`,
    });
  }

  async init(): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await lockSchemaSetup(client, TABLE_LOCK, this.schema);
      await client.query(deliveryDdl(this.t, 'bigint'));
      await client.query(deliveryIndexes(this.t));
    });
  }

  protected claimSql(): string {
    const t = this.t.jobs;
    return `UPDATE ${t} SET lease_owner = ?, lease_until = ?
      WHERE id IN (SELECT id FROM ${t}
                   WHERE state = 'pending' AND not_before <= ? AND lease_until <= ?
                   ORDER BY not_before LIMIT ?
                   FOR UPDATE SKIP LOCKED)
      RETURNING *`;
  }
}
