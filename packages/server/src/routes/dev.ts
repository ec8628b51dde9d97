import type { FastifyPluginAsync } from 'fastify';
import type { HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { requireObject, userChannelOf } from '../http/publish-input.js';

/** Lifetime of development tokens. */
const DEV_TOKEN_TTL_SEC = 12 * 3600;

/**
 * `POST /dev/token { "userId" }`: mints a token for any user so the demo page works out of
 * the box. It exists only in dev mode (`--dev`), which prints a warning at start and refuses
 * to run with NODE_ENV=production; otherwise the route answers 404 HERALD_ERR_DEV_MODE_OFF.
 * The token may read `user:{userId}` and publish to user channels and "broadcast", which is
 * what the demo page's send form needs.
 */
export const devRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  app.post('/dev/token', async (req) => {
    if (!ctx.config.dev) throw new HeraldError('HERALD_ERR_DEV_MODE_OFF');
    const body = requireObject(req.body);
    const channel = userChannelOf(body['userId']);
    const userId = channel.slice('user:'.length);
    const token = await ctx.tokens.mint({
      sub: userId,
      publish: ['user:*', 'broadcast'],
      ttlSec: DEV_TOKEN_TTL_SEC,
    });
    return {
      token,
      userId,
      channels: [channel, ...ctx.config.publicChannels],
      expiresIn: DEV_TOKEN_TTL_SEC,
    };
  });
};
