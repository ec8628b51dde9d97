import type { FastifyPluginAsync } from 'fastify';
import type { HeraldContext } from '../context.js';

/**
 * `GET /metrics`: this node's metrics in the Prometheus text format. It needs no
 * credential, like most exporters: no label carries a user id, channel name or secret, so
 * the page says how busy the node is and nothing about who uses it. Keep it off the
 * public internet all the same (see docs/operations.md): serve it only to the scraper.
 */
export const metricsRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    const text = await ctx.metrics.exposition();
    return reply.type(ctx.metrics.contentType).send(text);
  });
};
