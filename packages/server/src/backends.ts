import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Broker } from './broker/broker.js';
import { IpcBroker } from './broker/ipc.js';
import { MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import type { Config } from './config.js';
import type { DeliveryStore } from './delivery/delivery-store.js';
import { PostgresDeliveryStore } from './delivery/postgres.js';
import { SqliteDeliveryStore } from './delivery/sqlite.js';
import type { IdempotencyStore } from './idempotency/idempotency.js';
import { MemoryIdempotencyStore } from './idempotency/memory.js';
import { PostgresIdempotencyStore } from './idempotency/postgres.js';
import { SqliteIdempotencyStore } from './idempotency/sqlite.js';
import type { InboxStore } from './inbox/inbox-store.js';
import { PostgresInbox } from './inbox/postgres.js';
import { SqliteInbox } from './inbox/sqlite.js';
import type { KeyStore } from './keys/key-store.js';
import { PostgresKeyStore } from './keys/postgres.js';
import { SqliteKeyStore } from './keys/sqlite.js';
import type { Logger } from './logger.js';
import { IpcRateLimiter } from './rate-limit/ipc.js';
import type { RateLimiter } from './rate-limit/rate-limiter.js';
import { RedisRateLimiter } from './rate-limit/redis.js';
import { PostgresStore } from './store/postgres.js';
import { SqliteStore } from './store/sqlite.js';
import type { Store } from './store/store.js';
import { IpcStreamBuffer } from './streams/ipc.js';
import { MemoryStreamBuffer } from './streams/memory.js';
import { RedisStreamBuffer } from './streams/redis.js';
import type { StreamBounds, StreamBuffer } from './streams/stream-buffer.js';
import type { PrimaryLink } from './workers/primary-link.js';

/**
 * Every backend of one deployment, built together so they always agree: the embedded set
 * (SQLite file + in-memory broker, node-local rate limits), the embedded set of a worker of
 * `herald serve --workers N` (the same SQLite file; broker, rate limits and token buffers
 * held by the primary process, over IPC) or the cluster set (PostgreSQL + Redis). This is
 * the one place that knows which backend runs; everything else sees the seams' interfaces
 * only.
 */
export interface Backends {
  /** Durable events (src/store/). */
  readonly store: Store;
  /** Live events between nodes (src/broker/). */
  readonly broker: Broker;
  /** Notifications, their state, templates and preferences, beside the event store. */
  readonly inbox: InboxStore;
  /** Idempotency records of publishes, beside the event store. */
  readonly idempotency: IdempotencyStore;
  /** The delivery outbox, push subscriptions, webhooks and delivery preferences (src/delivery/). */
  readonly delivery: DeliveryStore;
  /** Stored API keys; absent with a custom store that has no database. */
  readonly keys: KeyStore | undefined;
  /** The cluster-wide rate limiter (Redis); absent: node-local counting only. */
  readonly rateLimiter: RateLimiter | undefined;
  /** Tokens of AI answers while they stream (src/streams/): in memory, or Redis in a cluster. */
  readonly streams: StreamBuffer;
}

export interface BackendOptions {
  readonly log: Logger;
  /** Connection errors of the PostgreSQL pool, per retry. */
  readonly onStoreError?: (err: unknown) => void;
  /** Connection errors of the Redis broker, per retry. */
  readonly onBrokerError?: (err: unknown) => void;
  /**
   * A custom event store (embedding, tests). It has no database Herald knows of, so the
   * inbox, idempotency records and key store beside it live in memory on this node only.
   */
  readonly store?: Store;
  /** A custom broker instead of the configured one. */
  readonly broker?: Broker;
  /** Decorates the configured event store (fault injection in tests); the rest is unchanged. */
  readonly wrapStore?: (store: Store) => Store;
  /**
   * This process is a worker of `herald serve --workers N`: with no Redis, live events, rate
   * limits and token buffers go through the primary over this link, and only worker 0 runs
   * the SQLite checkpoint thread.
   */
  readonly worker?: PrimaryLink;
}

/** The backends that live in the event store's database (what `herald keys` needs). */
export type StoreBackends = Pick<Backends, 'store' | 'inbox' | 'idempotency' | 'keys' | 'delivery'>;

/** Builds the backends the configuration names: `databaseUrl` → PostgreSQL, `redisUrl` → Redis. */
export function createBackends(config: Config, options: BackendOptions): Backends {
  // Workers of one machine share through their primary what a cluster shares through Redis.
  const primary = config.redisUrl ? undefined : options.worker;
  const broker =
    options.broker ??
    (config.redisUrl
      ? new RedisBroker({
          url: config.redisUrl,
          prefix: config.redisPrefix,
          onError: options.onBrokerError ?? (() => undefined),
        })
      : primary
        ? new IpcBroker(primary)
        : new MemoryBroker());
  const rateLimiter = config.redisUrl
    ? new RedisRateLimiter({
        url: config.redisUrl,
        // Beside the broker's channels: `herald:rl:` by default, one namespace per cluster.
        prefix: `${config.redisPrefix}rl:`,
        onError: () => undefined, // outages are reported once by RateLimits, not per retry
      })
    : primary
      ? new IpcRateLimiter(primary)
      : undefined;
  const bounds = streamBounds(config);
  const streams = config.redisUrl
    ? new RedisStreamBuffer(
        Object.assign({}, bounds, {
          url: config.redisUrl,
          prefix: `${config.redisPrefix}streams:`,
          onError: options.onBrokerError ?? (() => undefined),
        }),
      )
    : primary
      ? new IpcStreamBuffer(primary)
      : new MemoryStreamBuffer(bounds);
  return Object.assign(createStoreBackends(config, options), { broker, rateLimiter, streams });
}

/** The bounds of AI token buffers (the primary of `--workers N` holds them for its workers). */
export function streamBounds(config: Config): StreamBounds {
  return {
    maxTokens: config.streamMaxTokens,
    maxBytes: config.streamMaxBytes,
    graceMs: config.streamGraceSec * 1000,
    idleMs: config.streamIdleSec * 1000,
  };
}

/** The event store and what lives beside it, in the same SQLite file or PostgreSQL schema. */
export function createStoreBackends(config: Config, options: BackendOptions): StoreBackends {
  const { log } = options;
  const wrap = options.wrapStore ?? ((s: Store) => s);
  if (options.store) {
    log.warn('idempotency keys are kept in memory: the store has no database of its own');
    const memory = new Database(':memory:');
    return {
      store: options.store,
      inbox: new SqliteInbox(memory),
      delivery: new SqliteDeliveryStore(memory),
      idempotency: new MemoryIdempotencyStore(),
      keys: undefined,
    };
  }
  if (config.databaseUrl) {
    const store = new PostgresStore({
      connectionString: config.databaseUrl,
      schema: config.databaseSchema,
      onError: options.onStoreError ?? (() => undefined),
    });
    const pool = store.sharedPool;
    return {
      store: wrap(store),
      inbox: new PostgresInbox(pool, store.schemaName),
      idempotency: new PostgresIdempotencyStore(pool, store.schemaName),
      delivery: new PostgresDeliveryStore(pool, store.schemaName),
      keys: new PostgresKeyStore(pool, store.schemaName),
    };
  }
  const store = new SqliteStore({
    path: config.sqlitePath || join(config.dataDir, 'herald.db'),
    // One checkpoint thread per file: two would fight over restarting the WAL.
    checkpointedElsewhere: (options.worker?.slot ?? 0) > 0,
    onError: (err) =>
      log.warn({ err }, 'WAL checkpoint thread failed; SQLite checkpoints on the event loop'),
  });
  const db = store.database;
  return {
    store: wrap(store),
    inbox: new SqliteInbox(db),
    idempotency: new SqliteIdempotencyStore(db),
    delivery: new SqliteDeliveryStore(db),
    keys: new SqliteKeyStore(db),
  };
}
