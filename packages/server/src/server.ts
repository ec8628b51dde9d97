import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { TokenService, loadSecret } from './auth/tokens.js';
import type { Broker } from './broker/broker.js';
import { MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import type { Config } from './config.js';
import type { HeraldContext } from './context.js';
import { type ErrorCode, HeraldError } from './errors.js';
import { Hub } from './hub/hub.js';
import { createLogger, type Logger } from './logger.js';
import { devRoutes } from './routes/dev.js';
import { MAX_CURSOR_LENGTH, eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { publishRoutes } from './routes/publish.js';
import { PostgresStore } from './store/postgres.js';
import { SqliteStore } from './store/sqlite.js';
import type { Store } from './store/store.js';

export interface HeraldServer {
  readonly app: FastifyInstance;
  readonly hub: Hub;
  readonly ctx: HeraldContext;
  readonly tokens: TokenService;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Graceful stop: drain streams with a retry hint, finish in-flight requests, close the store. */
  close(): Promise<void>;
}

export interface CreateServerOptions {
  readonly store?: Store;
  readonly broker?: Broker;
  readonly logger?: Logger;
}

/** Fastify's own error codes, mapped onto the catalogue. */
const FASTIFY_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'HERALD_ERR_BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'HERALD_ERR_BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'HERALD_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'HERALD_ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE',
};

function toHeraldError(err: FastifyError | Error): HeraldError {
  if (err instanceof HeraldError) return err;
  const code = (err as FastifyError).code;
  const mapped = code ? FASTIFY_ERRORS[code] : undefined;
  if (mapped) return new HeraldError(mapped);
  if (err instanceof SyntaxError) return new HeraldError('HERALD_ERR_BAD_JSON');
  const status = (err as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new HeraldError('HERALD_ERR_BAD_REQUEST', err.message);
  }
  return new HeraldError('HERALD_ERR_INTERNAL');
}

function defaultWebDir(): string {
  // dist/server.js (or src/server.ts in tests) -> repository apps/web
  const here = fileURLToPath(new URL('.', import.meta.url));
  return resolve(here, '../../../apps/web');
}

export async function createServer(
  config: Config,
  options: CreateServerOptions = {},
): Promise<HeraldServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const store =
    options.store ??
    (config.databaseUrl
      ? new PostgresStore({
          connectionString: config.databaseUrl,
          onError: (err) => log.warn({ err }, 'PostgreSQL connection error'),
        })
      : new SqliteStore({ path: config.sqlitePath || join(config.dataDir, 'herald.db') }));
  const broker =
    options.broker ??
    (config.redisUrl
      ? new RedisBroker({
          url: config.redisUrl,
          onError: (err) => log.warn({ err }, 'Redis connection error'),
        })
      : new MemoryBroker());
  await store.init();

  const tokens = new TokenService({
    secret: loadSecret(config.jwtSecret, config.dataDir),
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    apiKeys: config.apiKeys,
  });
  const hub = new Hub({
    store,
    broker,
    log,
    replayMax: config.replayMax,
    replayPageSize: config.replayPageSize,
    maxCursorLength: MAX_CURSOR_LENGTH,
  });
  await hub.start();

  const app = Fastify({
    loggerInstance: log,
    bodyLimit: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    // Slow request headers or bodies (slowloris) are cut after these limits.
    requestTimeout: 30_000,
    connectionTimeout: 0,
    keepAliveTimeout: 10_000,
    // Requests that reach a closing node are answered by the routes themselves (a stream
    // request gets a retry hint rather than a 503 that EventSource would never retry).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  app.removeContentTypeParser('text/plain');

  const ctx: HeraldContext = { config, hub, tokens, draining: false };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toHeraldError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    void reply.code(e.status).type('application/json; charset=utf-8').send(e.toJSON());
  });
  app.setNotFoundHandler((_req, reply) => {
    const e = new HeraldError('HERALD_ERR_NOT_FOUND');
    void reply.code(e.status).send(e.toJSON());
  });

  eventRoutes(app, ctx);
  publishRoutes(app, ctx);
  devRoutes(app, ctx);
  healthRoutes(app, ctx);
  const webDir = config.webDir || defaultWebDir();
  if (existsSync(webDir)) {
    await app.register(fastifyStatic, { root: webDir, prefix: '/', index: ['index.html'] });
  }

  // One shared timer for every connection: heartbeats and token expiry. No per-connection
  // timers, so 20,000 idle connections cost one wake-up per second.
  let lastBeat = Date.now();
  const sweep = setInterval(
    () => {
      const now = Date.now();
      const beat = now - lastBeat >= config.heartbeatMs;
      if (beat) lastBeat = now;
      for (const s of hub.sessions) {
        if (s.expiresAt !== undefined && s.expiresAt <= now) {
          s.writeControl('token-expired', { code: 'HERALD_ERR_TOKEN_EXPIRED' }, false);
          s.close('token-expired');
        } else if (beat) s.heartbeat();
      }
    },
    Math.min(1000, config.heartbeatMs),
  );
  sweep.unref();

  const retention = setInterval(() => {
    store
      .trim(
        { maxAgeMs: config.retentionMaxAgeSec * 1000, maxEvents: config.retentionMaxEvents },
        Date.now(),
      )
      .then((n) => n > 0 && log.info({ deleted: n }, 'retention sweep'))
      .catch((err: unknown) => log.error({ err }, 'retention sweep failed'));
  }, config.retentionIntervalSec * 1000);
  retention.unref();

  app.addHook('onClose', async () => {
    clearInterval(sweep);
    clearInterval(retention);
    await broker.close();
    await store.close();
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    hub,
    ctx,
    tokens,
    async listen() {
      await app.listen({
        port: config.port,
        host: config.host || (config.dev ? '127.0.0.1' : '0.0.0.0'),
      });
      const addr = app.server.address();
      return typeof addr === 'object' && addr ? addr.port : config.port;
    },
    close() {
      closing ??= (async () => {
        ctx.draining = true;
        // Stop listening before telling clients to reconnect: a reconnect that reached this
        // node while draining would get a 503, and EventSource gives up for good on any
        // non-200 answer, whereas a refused connection is retried (here or, behind a proxy,
        // on another node). In-flight requests finish before the store is closed.
        const closed = app.close();
        for (let i = 0; i < 1000 && app.server.listening; i++) {
          await new Promise((r) => setImmediate(r));
        }
        hub.closeAll(config.retryMs);
        await closed;
      })();
      return closing;
    },
  };
}
