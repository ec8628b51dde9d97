import type { FastifyBaseLogger } from 'fastify';
import { authenticate, type HeraldContext } from '../context.js';
import type { StreamHost } from '../sse/open-stream.js';

/**
 * The server's side of `openStream` (sse/open-stream.ts), from the route context: `log` is
 * the route's logger and `logName` names its lines (`sse connect`, `alert stream connect`).
 */
export function streamHost(
  ctx: HeraldContext,
  log: FastifyBaseLogger,
  logName = 'sse',
): StreamHost {
  return {
    logName,
    get draining() {
      return ctx.draining;
    },
    retryMs: ctx.config.retryMs,
    sendBufferBytes: ctx.config.sendBufferBytes,
    authenticate: (req) => authenticate(ctx, req, 'stream'),
    checkConnectUser: (p) => ctx.limits.rate.checkConnectUser(p),
    admit: (userId, ip) => ctx.limits.connections.admit(userId, ip),
    added(session, ip, evictions) {
      ctx.limits.connections.add(session, ip);
      ctx.limits.connections.evict(evictions);
      ctx.metrics.connectionOpened();
    },
    attach: (session, options) => ctx.hub.attach(session, options),
    closed: (session, reason) => {
      ctx.hub.detach(session);
      ctx.limits.connections.remove(session);
      if (reason === 'slow-consumer') ctx.hub.stats.slowConsumers++;
      ctx.metrics.connectionClosed(reason);
      // The route's logger, not the request's: a stream keeps nothing of its request. The
      // connection id ties this line to the `connect` line, which has the request id.
      const level = reason === 'slow-consumer' || reason === 'error' ? 'warn' : 'info';
      log[level](
        {
          connection: session.id,
          user: session.userId,
          reason,
          durationMs: Date.now() - session.openedAt,
        },
        `${logName} disconnect`,
      );
    },
  };
}
