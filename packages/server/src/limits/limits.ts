import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { IdempotencyStore } from '../idempotency/idempotency.js';
import { Idempotency } from '../idempotency/service.js';
import type { RateLimiter } from '../rate-limit/rate-limiter.js';
import { ConnectionCaps } from './connection-caps.js';
import { RateLimits } from './rate-limits.js';

/** Every limit the HTTP API enforces besides the per-request checks of the routes. */
export interface Limits {
  readonly rate: RateLimits;
  readonly connections: ConnectionCaps;
  readonly idempotency: Idempotency;
  close(): Promise<void>;
}

/**
 * Builds the limits from configuration and the deployment's backends (backends.ts): with a
 * shared rate limiter (Redis) the limits hold cluster-wide, else node-local counters;
 * connection caps; idempotency records in the store's database (`init` creates its table).
 */
export async function createLimits(
  config: Config,
  deps: {
    idempotency: IdempotencyStore;
    rateLimiter: RateLimiter | undefined;
    log: Logger;
    onRateLimited?: (limit: string) => void;
  },
): Promise<Limits> {
  const shared = deps.rateLimiter;
  shared?.start?.();
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
  const records = deps.idempotency;
  await records.init();
  const idempotency = new Idempotency(
    records,
    {
      ttlMs: config.idempotencyTtlSec * 1000,
      waitMs: config.idempotencyWaitMs,
      leaseMs: config.idempotencyLeaseMs,
    },
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
