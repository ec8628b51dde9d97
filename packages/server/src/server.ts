import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { corsHook } from './auth/cors.js';
import { TokenService, loadSecret } from './auth/tokens.js';
import { securityRoutes } from './routes/security.js';
import { BackendHealth, isConnectionError, isReportedBackendError } from './backend-health.js';
import { createBackends } from './backends.js';
import type { Broker } from './broker/broker.js';
import { InstrumentedBroker } from './broker/instrumented.js';
import type { Config } from './config.js';
import type { HeraldContext } from './context.js';
import { type ErrorCode, HeraldError } from './errors.js';
import { Hub } from './hub/hub.js';
import { DeliveryService } from './delivery/service.js';
import { deliveryRoutes } from './routes/delivery.js';
import { EVERYONE_CHANNEL, InboxService } from './inbox/service.js';
import { createLogger, lazyRequestLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import { alertStreamRoutes } from './routes/alert-stream.js';
import { notificationRoutes } from './routes/notifications.js';
import { templateRoutes } from './routes/templates.js';
import { metricsRoutes } from './routes/metrics.js';
import { devRoutes } from './routes/dev.js';
import { publishGatePlugin } from './http/publish-gate.js';
import { httpServerFactory } from './limits/http-server.js';
import { createLimits } from './limits/limits.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { publishRoutes } from './routes/publish.js';
import { streamRoutes } from './routes/streams.js';
import { StreamCatchUp } from './streams/catch-up.js';
import { StreamService } from './streams/service.js';
import { Sweeper } from './sse/sweeper.js';
import { InstrumentedStore } from './store/instrumented.js';
import type { Store } from './store/store.js';
import type { PrimaryLink } from './workers/primary-link.js';
import { workerStats } from './workers/worker-stats.js';

export interface HeraldServer {
  readonly app: FastifyInstance;
  readonly hub: Hub;
  readonly ctx: HeraldContext;
  readonly tokens: TokenService;
  /** The notification inbox (docs/inbox.md). */
  readonly inbox: InboxService;
  /** Push, email and webhook delivery through the outbox (docs/delivery.md). */
  readonly delivery: DeliveryService;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Graceful stop: drain streams with a retry hint, finish in-flight requests, close the store. */
  close(): Promise<void>;
}

export interface CreateServerOptions {
  /**
   * A custom event store (embedding, tests): the inbox, idempotency records and API keys
   * then live in memory, since Herald knows no database beside it (see backends.ts).
   */
  readonly store?: Store;
  /** Decorates the configured event store (fault injection in tests). */
  readonly wrapStore?: (store: Store) => Store;
  readonly broker?: Broker;
  readonly logger?: Logger;
  /** This server is a worker of `herald serve --workers N`, linked to its primary. */
  readonly worker?: PrimaryLink;
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
  // dist/server.js (or src/server.ts in tests) -> repository apps/web/dist (the Vite build)
  const here = fileURLToPath(new URL('.', import.meta.url));
  return resolve(here, '../../../apps/web/dist');
}

/**
 * A browser's page load (Accept: text/html) of one of the web app's views: they all live
 * under /app/ (docs/web.md), so no view can shadow an API path.
 */
function wantsPage(accept: string | undefined, url: string): boolean {
  const path = url.split(/[?#]/)[0] ?? '';
  return accept?.includes('text/html') === true && (path === '/app' || path.startsWith('/app/'));
}

export async function createServer(
  config: Config,
  options: CreateServerOptions = {},
): Promise<HeraldServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  // Every store and broker call goes through an instrumenting decorator (latency, errors,
  // one log line per outage and per recovery).
  const metrics = new Metrics();
  const storeHealth = new BackendHealth({
    backend: 'store',
    log,
    metrics,
    probe: (): Promise<void> => observedStore.ping(),
  });
  const brokerHealth = new BackendHealth({
    backend: 'broker',
    log,
    metrics,
    probe: (): Promise<void> => observedBroker.ping(),
  });
  // Connection errors are reported per retry by the drivers: they only mark the backend
  // down (logged once); anything else (a malformed broker message) is logged as it comes.
  const onBackendError = (health: BackendHealth, what: string) => (err: unknown) => {
    if (health === brokerHealth) metrics.brokerConnectionError();
    if (isConnectionError(err)) health.failed('connection', err);
    else log.warn({ err }, what);
  };
  const backends = createBackends(config, {
    log,
    onStoreError: onBackendError(storeHealth, 'PostgreSQL error'),
    onBrokerError: onBackendError(brokerHealth, 'Redis error'),
    ...(options.store ? { store: options.store } : {}),
    ...(options.broker ? { broker: options.broker } : {}),
    ...(options.wrapStore ? { wrapStore: options.wrapStore } : {}),
    ...(options.worker ? { worker: options.worker } : {}),
  });
  // Jobs that one process of the machine runs for all of them (worker 0 of `--workers N`).
  const maintains = (options.worker?.slot ?? 0) === 0;
  const observedStore = new InstrumentedStore(backends.store, metrics, storeHealth);
  const observedBroker = new InstrumentedBroker(backends.broker, metrics, brokerHealth, log);
  await observedStore.init();

  const keys = backends.keys;
  await keys?.init();
  const tokens = new TokenService({
    secret: loadSecret(config.jwtSecret, config.dataDir),
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    apiKeys: config.apiKeys,
    algorithms: config.jwtAlgorithms,
    ...(config.jwtPublicKeyFile
      ? { publicKeyPem: readFileSync(config.jwtPublicKeyFile, 'utf8') }
      : {}),
    ...(config.jwksUrl
      ? { jwksUrl: config.jwksUrl, jwksCacheMaxAgeMs: config.jwksCacheMaxAgeSec * 1000 }
      : {}),
    wildcardGrant: config.wildcardGrant,
    ...(keys ? { keyStore: keys } : {}),
  });
  const hub = new Hub({
    store: observedStore,
    broker: observedBroker,
    log,
    metrics,
    replayMax: config.replayMax,
    replayPageSize: config.replayPageSize,
    maxCursorLength: config.maxCursorLength,
    streams: new StreamCatchUp(backends.streams, metrics),
  });
  await hub.start();
  const streams = new StreamService(backends.streams, hub, log, config.streamMaxTokens);
  await streams.start();
  storeHealth.arm();
  brokerHealth.arm();
  const limits = await createLimits(config, {
    idempotency: backends.idempotency,
    rateLimiter: backends.rateLimiter,
    log,
    onRateLimited: (limit) => metrics.rateLimited(limit),
  });

  const app = Fastify({
    loggerInstance: log,
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: config.maxBodyBytes,
    // A hop count, not "trust everything": with `true` the client's own X-Forwarded-For
    // entries would be believed, and per-address limits would be one forged header away.
    trustProxy: config.trustProxy
      ? (_addr: string, hop: number) => hop < config.trustProxyHops
      : false,
    // Slow request headers or bodies (slowloris) are cut; see limits/http-server.ts.
    serverFactory: httpServerFactory({
      headersTimeoutMs: config.headersTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      keepAliveTimeoutMs: 10_000,
    }),
    // Requests that reach a closing node are answered by the routes themselves (a stream
    // request gets a retry hint rather than a 503 that EventSource would never retry).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  app.removeContentTypeParser('text/plain');

  // The inbox keeps its tables beside the event store's (same file or schema) and
  // publishes every change through the hub.
  const inbox = new InboxService({
    store: backends.inbox,
    hub,
    log,
    everyoneChannel: EVERYONE_CHANNEL,
    dedupWindowMs: config.inboxDedupWindowSec * 1000,
    schedulerIntervalMs: config.inboxSchedulerIntervalMs,
    retention: {
      maxAgeMs: config.inboxRetentionMaxAgeSec * 1000,
      maxPerOwner: config.inboxRetentionMaxPerUser,
      // A mark is of use while a retry may still take its send's claim over.
      sendMarksMaxAgeMs: config.idempotencyTtlSec * 1000,
    },
    retentionIntervalMs: config.retentionIntervalSec * 1000,
  });
  await inbox.init();
  // External delivery observes the inbox: new notifications are routed to the outbox.
  const delivery = new DeliveryService({
    config,
    store: backends.delivery,
    inbox,
    hub,
    log,
    registry: metrics.registry,
  });
  await delivery.init();
  inbox.observe(delivery);

  const ctx: HeraldContext = {
    config,
    hub,
    tokens,
    metrics,
    limits,
    inbox,
    delivery,
    streams,
    ...(options.worker ? { workers: workerStats(options.worker, hub) } : {}),
    draining: false,
  };
  metrics.watch({
    connections: () => hub.sessions.size,
    users: () => hub.userCount,
    channels: () => hub.channelCount,
    draining: () => ctx.draining,
    aiStreams: () => streams.active,
    aiTokens: () => streams.tokens,
    totals: () => hub.stats,
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toHeraldError(err);
    if (e.status === 401 || e.status === 403) metrics.authFailure(e.code);
    // 503s (store or broker down, draining) are expected answers; an outage is logged once
    // by the backend's health, not once per request.
    if (e.status >= 500) {
      const quiet = e.status === 503 || isReportedBackendError(err);
      req.log[quiet ? 'debug' : 'error']({ err }, 'request failed');
    }
    if (e.headers) void reply.headers(e.headers);
    void reply.code(e.status).type('application/json; charset=utf-8').send(e.toJSON());
  });
  const webDir = config.webDir || defaultWebDir();
  const webApp = existsSync(join(webDir, 'index.html'));
  app.setNotFoundHandler((req, reply) => {
    // The web app routes in the browser: a page load of /app/inbox, /app/admin… gets index.html.
    // API paths and non-HTML requests keep the JSON 404.
    if (webApp && req.method === 'GET' && wantsPage(req.headers.accept, req.url)) {
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    }
    const e = new HeraldError('HERALD_ERR_NOT_FOUND');
    void reply.code(e.status).send(e.toJSON());
  });

  if (options.worker) {
    // Which worker answered: for operators reading a trace, and for the tests that prove
    // what one worker publishes reaches another's subscribers.
    const slot = String(options.worker.slot);
    app.addHook('onRequest', (_req, reply, done) => {
      void reply.header('herald-worker', slot);
      done();
    });
  }
  corsHook(app, config.corsOrigins);
  // Each route file is a plugin over the same context; the publish gate is a decorator.
  await app.register(publishGatePlugin, { ctx });
  for (const routes of [
    securityRoutes,
    eventRoutes,
    publishRoutes,
    devRoutes,
    healthRoutes,
    metricsRoutes,
    adminRoutes,
    notificationRoutes,
    templateRoutes,
    alertStreamRoutes,
    deliveryRoutes,
    streamRoutes,
  ]) {
    await app.register(routes, { ctx });
  }
  if (webApp) {
    await app.register(fastifyStatic, { root: webDir, prefix: '/', index: ['index.html'] });
  }

  const sweeper = new Sweeper({
    sessions: hub.sessions,
    heartbeatMs: config.heartbeatMs,
    onHeartbeats: (n) => metrics.heartbeatsSent(n),
  });

  // Retention is one sweep for the whole file: on worker 0 only (another worker's sweep would
  // delete the same rows, and take the write lock from the publishes twice as often).
  const retention = setInterval(() => {
    if (!maintains) return;
    observedStore
      .trim(
        { maxAgeMs: config.retentionMaxAgeSec * 1000, maxEvents: config.retentionMaxEvents },
        Date.now(),
      )
      .then((n) => n > 0 && log.info({ deleted: n }, 'retention sweep'))
      .catch((err: unknown) => {
        log[isReportedBackendError(err) ? 'debug' : 'error']({ err }, 'retention sweep failed');
      });
  }, config.retentionIntervalSec * 1000);
  retention.unref();
  inbox.start();
  delivery.start();

  app.addHook('onClose', async () => {
    sweeper.stop();
    clearInterval(retention);
    await inbox.close();
    await delivery.close();
    storeHealth.close();
    brokerHealth.close();
    await limits.close();
    await observedBroker.close();
    await backends.streams.close();
    await observedStore.close();
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    hub,
    ctx,
    tokens,
    inbox,
    delivery,
    async listen() {
      await app.listen({
        port: config.port,
        host: config.host || (config.dev ? '127.0.0.1' : '0.0.0.0'),
        // A reconnect storm arrives all at once; Node's default queue of 511 dropped
        // connection requests in the 10,000-client storm (the kernel caps it at somaxconn).
        backlog: 4096,
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
        // Spread over drainWindowMs so the rest of the cluster is not hit by every reconnect
        // at once; the broker and store stay open meanwhile, so the streams not yet closed
        // keep receiving events.
        await hub.drain(config.drainWindowMs, config.retryMs);
        await closed;
      })();
      return closing;
    },
  };
}
