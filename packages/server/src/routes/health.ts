import type { FastifyPluginAsync } from 'fastify';
import type { HeraldContext } from '../context.js';

/**
 * Longest wait for one backend check. A load balancer's probe has its own timeout (nginx
 * and Kubernetes default to a few seconds); a ping that hangs must turn into "not ready"
 * before that, not into a probe that never answers.
 */
export const READY_CHECK_TIMEOUT_MS = 2000;

async function check(ping: () => Promise<void>): Promise<'ok' | 'unreachable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), READY_CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([ping(), timeout]);
    return 'ok';
  } catch {
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `GET /healthz`: the process answers (liveness; restart the process only when this
 * fails). `GET /readyz`: the store and broker answer and the node is not draining
 * (readiness; load balancers route new streams only to ready nodes). Both checks run on
 * every call, in parallel, so /readyz turns 503 as soon as a backend stops answering and
 * back to 200 as soon as it answers again.
 */
export const healthRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  // Probed every few seconds by load balancers: their request logs would drown the rest.
  const quiet = { logLevel: 'warn' as const };
  app.get('/healthz', quiet, async () => ({
    status: 'ok',
    connections: ctx.hub.sessions.size,
    channels: ctx.hub.channelCount,
  }));

  app.get('/readyz', quiet, async (_req, reply) => {
    const [store, broker] = await Promise.all([
      check(() => ctx.hub.pingStore()),
      check(() => ctx.hub.pingBroker()),
    ]);
    const checks = { store, broker, draining: ctx.draining };
    const ready = !ctx.draining && store === 'ok' && broker === 'ok';
    return reply.code(ready ? 200 : 503).send({ ready, ...checks });
  });
};
