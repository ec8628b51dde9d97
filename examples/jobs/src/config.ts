/** A promotion and how many coupons it may issue. */
export interface Promotion {
  readonly id: string;
  readonly stock: number;
}

/** Every setting of the jobs example, read once from the environment. */
export interface JobsConfig {
  /** HTTP port of `POST /jobs/coupons` (`JOBS_PORT`, default 8090; 0 picks one). */
  readonly port: number;
  /** Address it binds (`JOBS_HOST`, default 127.0.0.1). */
  readonly host: string;
  /** Herald's base URL (`HERALD_URL`, default http://127.0.0.1:8080). */
  readonly heraldUrl: string;
  /** A Herald API key that may publish to `user:*` (`HERALD_API_KEY`, required). */
  readonly heraldApiKey: string;
  /** Herald's HS256 token secret, to know who calls `POST /jobs/coupons` (`HERALD_JWT_SECRET`, required). */
  readonly jwtSecret: string;
  /** The queue's Redis (`REDIS_URL`, default redis://127.0.0.1:6379). */
  readonly redisUrl: string;
  /** PostgreSQL for the results (`DATABASE_URL`); empty: the SQLite file below. */
  readonly databaseUrl: string;
  /** PostgreSQL schema of the results' tables (`JOBS_DATABASE_SCHEMA`, default public). */
  readonly databaseSchema: string;
  /** SQLite file of the results when there is no `DATABASE_URL` (`JOBS_SQLITE_PATH`, default ./data/jobs.db). */
  readonly sqlitePath: string;
  /** BullMQ queue name (`JOBS_QUEUE`, default coupons). */
  readonly queueName: string;
  /** Jobs one worker process runs at once (`JOBS_CONCURRENCY`, default 16). */
  readonly concurrency: number;
  /** Attempts per job before it settles as failed with reason `error` (`JOBS_ATTEMPTS`, default 5). */
  readonly attempts: number;
  /** How long a worker holds a job's lock unrenewed before another worker takes it over (`JOBS_LOCK_MS`, default 30000). */
  readonly lockMs: number;
  /** Takeovers after a worker died before the job fails (`JOBS_MAX_STALLED`, default 5). */
  readonly maxStalled: number;
  /** Simulated work per job, in ms (`JOBS_WORK_MS`, default 200). */
  readonly workMs: number;
  /** Promotions created at start, `id:stock,…` (`JOBS_PROMOTIONS`, default welcome:1000000). */
  readonly promotions: readonly Promotion[];
}

export class JobsConfigError extends Error {}

const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

function int(env: Record<string, string | undefined>, name: string, fallback: number, min = 0) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new JobsConfigError(`${name}: an integer >= ${min}`);
  return n;
}

function required(env: Record<string, string | undefined>, name: string): string {
  const v = env[name];
  if (!v) throw new JobsConfigError(`${name} is required`);
  return v;
}

/** Parses `id:stock,…`; ids are lowercase letters, digits and dashes. */
export function parsePromotions(raw: string): Promotion[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((part) => {
      const [id = '', stock = ''] = part.split(':');
      const n = Number(stock);
      if (!ID.test(id) || !Number.isInteger(n) || n < 0) {
        throw new JobsConfigError(`JOBS_PROMOTIONS: "${part}" is not id:stock`);
      }
      return { id, stock: n };
    });
}

export function isPromotionId(v: unknown): v is string {
  return typeof v === 'string' && ID.test(v);
}

export function loadJobsConfig(env: Record<string, string | undefined> = process.env): JobsConfig {
  const jwtSecret = required(env, 'HERALD_JWT_SECRET');
  if (jwtSecret.length < 32) throw new JobsConfigError('HERALD_JWT_SECRET: at least 32 characters');
  return {
    port: int(env, 'JOBS_PORT', 8090),
    host: env['JOBS_HOST'] || '127.0.0.1',
    heraldUrl: env['HERALD_URL'] || 'http://127.0.0.1:8080',
    heraldApiKey: required(env, 'HERALD_API_KEY'),
    jwtSecret,
    redisUrl: env['REDIS_URL'] || 'redis://127.0.0.1:6379',
    databaseUrl: env['DATABASE_URL'] ?? '',
    databaseSchema: env['JOBS_DATABASE_SCHEMA'] || 'public',
    sqlitePath: env['JOBS_SQLITE_PATH'] || './data/jobs.db',
    queueName: env['JOBS_QUEUE'] || 'coupons',
    concurrency: int(env, 'JOBS_CONCURRENCY', 16, 1),
    attempts: int(env, 'JOBS_ATTEMPTS', 5, 1),
    lockMs: int(env, 'JOBS_LOCK_MS', 30_000, 1000),
    maxStalled: int(env, 'JOBS_MAX_STALLED', 5, 1),
    workMs: int(env, 'JOBS_WORK_MS', 200),
    promotions: parsePromotions(env['JOBS_PROMOTIONS'] ?? 'welcome:1000000'),
  };
}
