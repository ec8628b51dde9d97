import type { FastifyInstance } from 'fastify';
import type { HeraldContext } from '../context.js';

/**
 * `GET /healthz`: the process answers. `GET /readyz`: the store and broker answer and the
 * node is not draining; load balancers route new streams only to ready nodes.
 */
export function healthRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  app.get('/healthz', async () => ({
    status: 'ok',
    connections: ctx.hub.sessions.size,
    channels: ctx.hub.channelCount,
  }));

  app.get('/readyz', async (_req, reply) => {
    const checks = { store: 'ok', broker: 'ok', draining: ctx.draining };
    await ctx.hub.store.ping().catch(() => (checks.store = 'unreachable'));
    await ctx.hub.broker.ping().catch(() => (checks.broker = 'unreachable'));
    const ready = !ctx.draining && checks.store === 'ok' && checks.broker === 'ok';
    return reply.code(ready ? 200 : 503).send({ ready, ...checks });
  });
}
