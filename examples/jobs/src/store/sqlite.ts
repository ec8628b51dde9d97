import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS promotions (
  id TEXT PRIMARY KEY, stock INTEGER NOT NULL, issued INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS coupon_outcomes (
  job_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, promotion_id TEXT NOT NULL,
  status TEXT NOT NULL, coupon_code TEXT, reason TEXT, settled_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS coupon_outcomes_one_per_user
  ON coupon_outcomes (user_id, promotion_id) WHERE status = 'issued';
`;

/** The embedded default: one SQLite file that every worker process on the host shares. */
export class SqliteCouponStore implements CouponStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // Several worker processes write the same file: wait for the lock instead of failing.
    this.db.pragma('busy_timeout = 10000');
  }

  async init(promotions: readonly Promotion[]): Promise<void> {
    this.db.exec(SCHEMA);
    const add = this.db.prepare('INSERT OR IGNORE INTO promotions (id, stock) VALUES (?, ?)');
    this.db.transaction(() => promotions.forEach((p) => add.run(p.id, p.stock)))();
  }

  async hasPromotion(id: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM promotions WHERE id = ?').get(id) !== undefined;
  }

  async outcome(jobId: string): Promise<Outcome | undefined> {
    const row = this.db.prepare('SELECT * FROM coupon_outcomes WHERE job_id = ?').get(jobId);
    return row ? outcomeOf(row as OutcomeRow) : undefined;
  }

  async settle(req: CouponRequest): Promise<Outcome> {
    // IMMEDIATE takes the write lock first, so the stock read and its decrement cannot
    // interleave with another process's.
    const run = this.db.transaction(() => {
      const done = this.db.prepare('SELECT 1 FROM coupon_outcomes WHERE job_id = ?').get(req.jobId);
      if (done) return;
      const promotion = this.db
        .prepare('SELECT stock, issued FROM promotions WHERE id = ?')
        .get(req.promotionId) as { stock: number; issued: number } | undefined;
      const holds =
        this.db
          .prepare(
            "SELECT 1 FROM coupon_outcomes WHERE user_id = ? AND promotion_id = ? AND status = 'issued'",
          )
          .get(req.userId, req.promotionId) !== undefined;
      const d = decide(promotion, holds);
      if (d.status === 'issued') {
        this.db
          .prepare('UPDATE promotions SET issued = issued + 1 WHERE id = ?')
          .run(req.promotionId);
      }
      this.insert(
        req,
        d.status,
        d.status === 'issued' ? couponCode() : null,
        'reason' in d ? d.reason : null,
      );
    });
    run.immediate();
    return (await this.outcome(req.jobId))!;
  }

  async fail(req: CouponRequest, reason: FailureReason): Promise<Outcome> {
    this.insert(req, 'failed', null, reason);
    return (await this.outcome(req.jobId))!;
  }

  private insert(req: CouponRequest, status: string, code: string | null, reason: string | null) {
    this.db
      .prepare(
        `INSERT INTO coupon_outcomes (job_id, user_id, promotion_id, status, coupon_code, reason, settled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING`,
      )
      .run(req.jobId, req.userId, req.promotionId, status, code, reason, Date.now());
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
