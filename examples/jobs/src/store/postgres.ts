import pg from 'pg';
import type { Promotion } from '../config.js';
import {
  couponCode,
  decide,
  outcomeOf,
  type CouponRequest,
  type CouponStore,
  type FailureReason,
  type Outcome,
  type OutcomeRow,
} from './coupon-store.js';

/** Cluster mode: the results in PostgreSQL, shared by every worker on every host. */
export class PostgresCouponStore implements CouponStore {
  private readonly pool: pg.Pool;
  private readonly schema: string;

  constructor(url: string, schema: string) {
    this.schema = pg.escapeIdentifier(schema);
    this.pool = new pg.Pool({
      connectionString: url,
      max: 8,
      options: `-c search_path=${this.schema}`,
    });
  }

  async init(promotions: readonly Promotion[]): Promise<void> {
    await this.createTables();
    // Outside the DDL transaction: a worker starting while others settle must not hold the
    // index's lock while it waits for a promotion row they hold (that deadlocked, measured).
    for (const p of promotions) {
      await this.pool.query(
        'INSERT INTO promotions (id, stock) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
        [p.id, p.stock],
      );
    }
  }

  private async createTables(): Promise<void> {
    const c = await this.pool.connect();
    try {
      // Tables there already: no DDL at all (CREATE INDEX IF NOT EXISTS still locks the table).
      const exists = await c.query<{ t: string | null }>(
        "SELECT to_regclass('coupon_outcomes')::text AS t",
      );
      if (exists.rows[0]?.t) return;
      // Concurrent first starts (several workers) must not race on CREATE: one lock for it.
      await c.query('BEGIN');
      await c.query("SELECT pg_advisory_xact_lock(hashtext('herald-jobs-schema'))");
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await c.query(`SET LOCAL search_path TO ${this.schema}`);
      await c.query(`CREATE TABLE IF NOT EXISTS promotions (
        id TEXT PRIMARY KEY, stock INTEGER NOT NULL, issued INTEGER NOT NULL DEFAULT 0)`);
      await c.query(`CREATE TABLE IF NOT EXISTS coupon_outcomes (
        job_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, promotion_id TEXT NOT NULL,
        status TEXT NOT NULL, coupon_code TEXT, reason TEXT, settled_at BIGINT NOT NULL)`);
      await c.query(`CREATE UNIQUE INDEX IF NOT EXISTS coupon_outcomes_one_per_user
        ON coupon_outcomes (user_id, promotion_id) WHERE status = 'issued'`);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async hasPromotion(id: string): Promise<boolean> {
    const r = await this.pool.query('SELECT 1 FROM promotions WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async outcome(jobId: string): Promise<Outcome | undefined> {
    const r = await this.pool.query<OutcomeRow>('SELECT * FROM coupon_outcomes WHERE job_id = $1', [
      jobId,
    ]);
    return r.rows[0] ? outcomeOf(r.rows[0]) : undefined;
  }

  async settle(req: CouponRequest): Promise<Outcome> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      // The promotion's row lock serialises every settle of that promotion: after it, the
      // reads below see every outcome committed before (READ COMMITTED takes a new snapshot
      // per statement), so neither the stock nor "one per user" can be decided twice.
      const p = await c.query<{ stock: number; issued: number }>(
        'SELECT stock, issued FROM promotions WHERE id = $1 FOR UPDATE',
        [req.promotionId],
      );
      const done = await c.query<OutcomeRow>('SELECT * FROM coupon_outcomes WHERE job_id = $1', [
        req.jobId,
      ]);
      if (done.rows[0]) {
        await c.query('COMMIT');
        return outcomeOf(done.rows[0]);
      }
      const holds = await c.query(
        "SELECT 1 FROM coupon_outcomes WHERE user_id = $1 AND promotion_id = $2 AND status = 'issued'",
        [req.userId, req.promotionId],
      );
      const d = decide(p.rows[0], (holds.rowCount ?? 0) > 0);
      if (d.status === 'issued') {
        await c.query('UPDATE promotions SET issued = issued + 1 WHERE id = $1', [req.promotionId]);
      }
      const row = await c.query<OutcomeRow>(
        `INSERT INTO coupon_outcomes (job_id, user_id, promotion_id, status, coupon_code, reason, settled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          req.jobId,
          req.userId,
          req.promotionId,
          d.status,
          d.status === 'issued' ? couponCode() : null,
          d.status === 'failed' ? d.reason : null,
          Date.now(),
        ],
      );
      await c.query('COMMIT');
      return outcomeOf(row.rows[0]!);
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async fail(req: CouponRequest, reason: FailureReason): Promise<Outcome> {
    await this.pool.query(
      `INSERT INTO coupon_outcomes (job_id, user_id, promotion_id, status, reason, settled_at)
       VALUES ($1, $2, $3, 'failed', $4, $5) ON CONFLICT (job_id) DO NOTHING`,
      [req.jobId, req.userId, req.promotionId, reason, Date.now()],
    );
    return (await this.outcome(req.jobId))!;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
