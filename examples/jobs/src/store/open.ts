import type { JobsConfig } from '../config.js';
import type { CouponStore } from './coupon-store.js';
import { PostgresCouponStore } from './postgres.js';
import { SqliteCouponStore } from './sqlite.js';

/** Herald's rule: a database URL means PostgreSQL (cluster mode), none the SQLite file. */
export async function openCouponStore(config: JobsConfig): Promise<CouponStore> {
  const store: CouponStore = config.databaseUrl
    ? new PostgresCouponStore(config.databaseUrl, config.databaseSchema)
    : new SqliteCouponStore(config.sqlitePath);
  await store.init(config.promotions);
  return store;
}
