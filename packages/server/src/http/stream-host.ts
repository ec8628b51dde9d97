import { authenticate, type HeraldContext } from '../context.js';
import type { StreamHost } from '../sse/open-stream.js';

/** The server's side of `openStream` (sse/open-stream.ts), from the route context. */
export function streamHost(ctx: HeraldContext, log: StreamHost['log']): StreamHost {
  return {
    log,
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
    closed(session, reason) {
      ctx.hub.detach(session);
      ctx.limits.connections.remove(session);
      if (reason === 'slow-consumer') ctx.hub.stats.slowConsumers++;
      ctx.metrics.connectionClosed(reason);
    },
  };
}
