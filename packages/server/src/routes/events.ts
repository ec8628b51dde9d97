import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { canSubscribe } from '../auth/principal.js';
import type { HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { channelName, distinct, userChannelOf } from '../http/publish-input.js';
import { streamHost } from '../http/stream-host.js';
import { canonicalChannels } from '../hub/cursor.js';
import { openStream, requestCursor } from '../sse/open-stream.js';
import { Session } from '../sse/session.js';

/**
 * The stream routes: `GET /events?channels=a,b` and the alias `GET /events/{userId}` for
 * the channel `user:{userId}` (the path form of the per-user stream).
 */
export const eventRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  const host = streamHost(ctx);
  // Connection attempts per client address are counted first, before the query or the
  // credential is even parsed: a flood of bad requests costs as little as possible.
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkConnectAddress(req);

  const stream = (req: FastifyRequest, reply: FastifyReply, requested: string[]) =>
    openStream(host, req, reply, (principal) => {
      const channels = canonicalChannels(requested);
      const denied = channels.filter((c) => !canSubscribe(principal, c, ctx.config.publicChannels));
      if (denied.length > 0) {
        req.log.info({ user: principal.userId, denied: denied.length }, 'channel refused');
        throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
      }
      return {
        channels,
        cursor: requestCursor(req),
        session: (res, options) => new Session(res, options),
      };
    });

  app.get('/events', { onRequest: limitAddress }, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const raw = typeof q['channels'] === 'string' ? q['channels'] : '';
    const names = raw.split(',').filter((s) => s !== '');
    if (names.length > ctx.config.maxChannelsPerConnection) {
      throw new HeraldError(
        'HERALD_ERR_TOO_MANY_CHANNELS',
        `${names.length} > ${ctx.config.maxChannelsPerConnection}`,
      );
    }
    const channels = distinct(names.map(channelName), ctx.config.maxChannelsPerConnection);
    await stream(req, reply, channels);
  });

  app.get('/events/:userId', { onRequest: limitAddress }, async (req, reply) => {
    const { userId } = req.params as { userId: string };
    await stream(req, reply, [userChannelOf(userId)]);
  });
};
