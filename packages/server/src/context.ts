import type { FastifyRequest } from 'fastify';
import type { TokenService } from './auth/tokens.js';
import type { Principal } from './auth/principal.js';
import { type CredentialMode, csrfOk, requestCredential } from './auth/request-credential.js';
import type { Config } from './config.js';
import { HeraldError } from './errors.js';
import type { Hub } from './hub/hub.js';
import type { DeliveryService } from './delivery/service.js';
import type { InboxService } from './inbox/service.js';
import type { Limits } from './limits/limits.js';
import type { Metrics } from './metrics.js';
import type { StreamService } from './streams/service.js';
import type { WorkerStats } from './workers/worker-stats.js';

/** What every route needs: configuration, the hub, token checks, and the drain flag. */
export interface HeraldContext {
  readonly config: Config;
  readonly hub: Hub;
  readonly tokens: TokenService;
  /** This server's Prometheus metrics (`ctx.metrics.rateLimited(...)` for rate limits). */
  readonly metrics: Metrics;
  /** Rate limits, connection caps and idempotency keys (src/limits/). */
  readonly limits: Limits;
  /** The notification inbox (src/inbox/): stores every notification and publishes its changes. */
  readonly inbox: InboxService;
  /** External delivery (src/delivery/): push subscriptions, webhooks, preferences, the outbox. */
  readonly delivery: DeliveryService;
  /** Token streams on `ai:{session}` channels (src/streams/, docs/streams.md). */
  readonly streams: StreamService;
  /** Set on a worker of `herald serve --workers N`: its slot and every worker's numbers. */
  readonly workers?: WorkerStats;
  draining: boolean;
}

/** Authenticates a request (credentials as `mode` allows) or throws the documented 401/403. */
export async function authenticate(
  ctx: HeraldContext,
  req: FastifyRequest,
  mode: CredentialMode,
): Promise<Principal> {
  const cred = requestCredential(req, mode);
  if (!cred) throw new HeraldError('HERALD_ERR_UNAUTHENTICATED');
  if (cred.source === 'cookie' && mode === 'cookie-csrf' && !csrfOk(req, ctx.config.corsOrigins)) {
    req.log.info({ reason: 'HERALD_ERR_CSRF' }, 'auth failure');
    throw new HeraldError('HERALD_ERR_CSRF');
  }
  try {
    return await ctx.tokens.authenticate(cred.value);
  } catch (err) {
    req.log.info(
      { reason: err instanceof HeraldError ? err.code : 'unknown', source: cred.source },
      'auth failure',
    );
    throw err;
  }
}

/** Authenticates and requires an admin principal (403 otherwise). */
export async function authenticateAdmin(
  ctx: HeraldContext,
  req: FastifyRequest,
): Promise<Principal> {
  const p = await authenticate(ctx, req, 'header');
  if (!p.admin) throw new HeraldError('HERALD_ERR_FORBIDDEN_ADMIN');
  return p;
}
