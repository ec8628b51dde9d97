import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { canPublish, type Principal } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import type { PublishPlan } from '../hub/publish-plan.js';

/**
 * Runs `work` behind the publish gate and answers 202 with its result. Under an
 * Idempotency-Key `work` gets the claim's plan, which a publish follows (`Hub.publish`) so
 * that a retry after a dead node stores nothing twice; without one it gets undefined.
 */
export type PublishGate = (
  req: FastifyRequest,
  reply: FastifyReply,
  channels: readonly string[],
  work: (plan: PublishPlan | undefined) => Promise<unknown>,
) => Promise<FastifyReply>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The gate of every publishing route (see http/publish-gate.ts). */
    publishGate: PublishGate;
  }
}

/**
 * The publisher checks of the gate, for a route that answers on its own (the token stream
 * producer, routes/streams.ts): not draining, a header credential, the publisher rate, and a
 * grant for every target channel.
 */
export async function admitPublisher(
  ctx: HeraldContext,
  req: FastifyRequest,
  channels: readonly string[],
): Promise<Principal> {
  if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
  const principal = await authenticate(ctx, req, false);
  await ctx.limits.rate.checkPublisher(principal);
  for (const channel of channels) {
    if (!canPublish(principal, channel)) throw new HeraldError('HERALD_ERR_FORBIDDEN_PUBLISH');
  }
  return principal;
}

/**
 * The gate of every publishing route (`/publish`, `/notify`, `/broadcast`,
 * `POST /notifications`): not draining, a header credential, within rate limits, allowed on
 * every target channel (a partly allowed request is refused whole, before anything is
 * sent); then `work` runs under the request's Idempotency-Key and its result is the 202
 * answer. Decorates the instance as `app.publishGate`.
 */
export const publishGatePlugin = fp<{ ctx: HeraldContext }>(
  async (app: FastifyInstance, { ctx }) => {
    const gate: PublishGate = async (req, reply, channels, work) => {
      const principal = await admitPublisher(ctx, req, channels);
      // An Idempotency-Key makes a retry replay the first answer instead of publishing again.
      return ctx.limits.idempotency.run(req, reply, principal, work);
    };
    app.decorate('publishGate', gate);
  },
  { name: 'herald-publish-gate' },
);
