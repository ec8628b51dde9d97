import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';
import { ConnectionCaps } from './connection-caps.js';
import { Idempotency, type IdempotencyStore, MemoryIdempotencyStore } from './idempotency.js';
import { PostgresIdempotencyStore } from './idempotency-postgres.js';
import { SqliteIdempotencyStore } from './idempotency-sqlite.js';
import { RateLimits } from './rate-limits.js';
import { RedisRateLimiter } from './redis.js';

/** Every limit the HTTP API enforces besides the per-request checks of the routes. */
export interface Limits {
  readonly rate: RateLimits;
  readonly connections: ConnectionCaps;
  readonly idempotency: Idempotency;
  close(): Promise<void>;
}

/**
 * The idempotency records live beside the event store, in its database. A store wrapped by a
 * decorator (metrics) is looked through (`inner`). A store with no database of its own (a
 * test double) gets records in memory, which hold on this node and until a restart only.
 */
export function idempotencyStoreBeside(store: unknown, log: Logger): IdempotencyStore {
  let s = store;
  for (let i = 0; i < 4 && typeof s === 'object' && s !== null && 'inner' in s; i++) {
    s = s.inner;
  }
  if (s instanceof SqliteStore) return new SqliteIdempotencyStore(s.database);
  if (s instanceof PostgresStore) return new PostgresIdempotencyStore(s.sharedPool, s.schemaName);
  log.warn('idempotency keys are kept in memory: the store has no database of its own');
  return new MemoryIdempotencyStore();
}

/**
 * Builds the limits from configuration: a Redis rate limiter when `redisUrl` is set (limits
 * hold cluster-wide), node-local counters otherwise; connection caps; idempotency records in
 * the store's database (`init` creates its table).
 */
export async function createLimits(
  config: Config,
  deps: { store: unknown; log: Logger; onRateLimited?: (limit: string) => void },
): Promise<Limits> {
  const shared = config.redisUrl
    ? new RedisRateLimiter({
        url: config.redisUrl,
        // Beside the broker's channels: `herald:rl:` by default, one namespace per cluster.
        prefix: `${config.redisPrefix}rl:`,
        onError: () => undefined, // outages are reported once by RateLimits, not per retry
      })
    : undefined;
  shared?.start();
  const rate = new RateLimits({
    settings: {
      windowMs: config.rateLimitWindowMs,
      publishPerKey: config.rateLimitPublishPerKey,
      publishPerUser: config.rateLimitPublishPerUser,
      publishPerAddress: config.rateLimitPublishPerIp,
      connectPerAddress: config.rateLimitConnectPerIp,
      connectPerUser: config.rateLimitConnectPerUser,
      failMode: config.rateLimitFailMode === 'closed' ? 'closed' : 'open',
    },
    ...(shared ? { shared } : {}),
    log: deps.log,
    ...(deps.onRateLimited ? { onRefused: deps.onRateLimited } : {}),
  });
  const connections = new ConnectionCaps(
    {
      perUser: config.maxConnectionsPerUser,
      perAddress: config.maxConnectionsPerIp,
      total: config.maxConnections,
      policy: config.connectionCapPolicy === 'evict-oldest' ? 'evict-oldest' : 'refuse',
    },
    deps.onRateLimited,
  );
  const records = idempotencyStoreBeside(deps.store, deps.log);
  await records.init();
  const idempotency = new Idempotency(
    records,
    { ttlMs: config.idempotencyTtlSec * 1000, waitMs: config.idempotencyWaitMs },
    deps.log,
  );
  idempotency.start();
  return {
    rate,
    connections,
    idempotency,
    async close() {
      idempotency.close();
      await rate.close();
    },
  };
}
