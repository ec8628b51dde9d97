import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { canSubscribe, type Principal } from '../auth/principal.js';
import { backendUnavailable, isReportedBackendError } from '../backend-health.js';
import type { HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { channelName, distinct, userChannelOf } from '../http/publish-input.js';
import { streamHost } from '../http/stream-host.js';
import { canonicalChannels } from '../hub/cursor.js';
import { admit, openStream, requestCursor } from '../sse/open-stream.js';
import { PollDeadlines, PollSession } from '../sse/poll-session.js';
import { Session, type SessionOptions } from '../sse/session.js';

/**
 * The stream routes: `GET /events?channels=a,b`, the alias `GET /events/{userId}` for the
 * channel `user:{userId}` (the path form of the per-user stream), and their long-poll form
 * `GET /poll?channels=a,b` for clients that cannot hold a stream (docs/http-api.md).
 */
export const eventRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  const host = streamHost(ctx, app.log);
  const deadlines = new PollDeadlines();
  app.addHook('onClose', async () => deadlines.stop());
  // Connection attempts per client address are counted first, before the query or the
  // credential is even parsed: a flood of bad requests costs as little as possible.
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkConnectAddress(req);

  /** The query's channels, from the point of view of `principal`: each readable, else 403. */
  const readable = (req: FastifyRequest, principal: Principal, requested: readonly string[]) => {
    const channels = canonicalChannels(requested);
    const denied = channels.filter((c) => !canSubscribe(principal, c, ctx.config.publicChannels));
    if (denied.length > 0) {
      req.log.info({ user: principal.userId, denied: denied.length }, 'channel refused');
      throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
    }
    return channels;
  };

  const stream = (req: FastifyRequest, reply: FastifyReply, requested: string[]) =>
    openStream(host, req, reply, (principal) => ({
      channels: readable(req, principal, requested),
      cursor: requestCursor(req),
      session: newSession,
    }));

  app.get('/events', { onRequest: limitAddress }, async (req, reply) => {
    await stream(req, reply, queryChannels(ctx, req));
  });

  app.get('/events/:userId', { onRequest: limitAddress }, async (req, reply) => {
    const { userId } = req.params as { userId: string };
    await stream(req, reply, [userChannelOf(userId)]);
  });

  app.get('/poll', { onRequest: limitAddress }, async (req, reply) => {
    if (ctx.draining) {
      const seconds = String(Math.max(1, Math.ceil(ctx.config.retryMs / 1000)));
      throw new HeraldError('HERALD_ERR_SHUTTING_DOWN', undefined, { 'Retry-After': seconds });
    }
    const requested = queryChannels(ctx, req);
    const wait = pollWait((req.query as Record<string, unknown>)['wait'], ctx.config.pollWaitMs);
    // The same admission as a stream (auth, grants, connection rate); what follows differs.
    const { principal, plan: channels } = await admit(host, req, (p) =>
      readable(req, p, requested),
    );
    const cursor = requestCursor(req);
    // A poll is a short-lived connection to the hub (it counts among its sessions and in the
    // connection metrics while it lasts), but not against the connection caps: it holds no
    // stream, and how often a client may poll is what the connection rate limits bound.
    const session = new PollSession(
      reply.raw,
      {
        channels,
        sendBufferBytes: ctx.config.sendBufferBytes,
        expiresAt: principal.expiresAt,
        userId: principal.userId,
        onClose: (s, reason) => {
          ctx.hub.detach(s);
          ctx.metrics.connectionClosed(reason);
        },
      },
      ctx.config.pollMaxEvents,
    );
    ctx.metrics.connectionOpened();
    let complete: boolean;
    try {
      complete = await ctx.hub.poll(session, cursor);
    } catch (err) {
      req.log[isReportedBackendError(err) ? 'debug' : 'error']({ err }, 'poll failed');
      session.close('error');
      throw backendUnavailable(err);
    }
    if (!complete) session.more = true;
    // Answered at once: anything to say, no cursor yet (the answer gives one), or no wait.
    const now = session.hasNews || !complete || !cursor || wait === 0;
    if (now) session.close('poll-answered');
    if (!session.isClosed) deadlines.hold(session, wait);
    const reason = await session.whenClosed();
    deadlines.release(session);
    if (reason === 'client-closed') {
      // Nobody to answer: the response is already gone.
      reply.hijack();
      return;
    }
    if (!session.positioned) {
      // Closed while setting up (shutdown, an expiring token): there is no cursor to give.
      throw new HeraldError(
        reason === 'token-expired' ? 'HERALD_ERR_TOKEN_EXPIRED' : 'HERALD_ERR_SHUTTING_DOWN',
      );
    }
    void reply.header('Cache-Control', 'no-store');
    if (reason === 'shutdown') void reply.header('Connection', 'close');
    return session.answer(ctx.config.retryMs);
  });
};

/** A stream's session; not made inside the route, so that it holds no request. */
const newSession = (res: ServerResponse, options: SessionOptions) => new Session(res, options);

/** The channels of `?channels=a,b`: each valid, at most maxChannelsPerConnection, at least one. */
function queryChannels(ctx: HeraldContext, req: FastifyRequest): string[] {
  const q = req.query as Record<string, unknown>;
  const raw = typeof q['channels'] === 'string' ? q['channels'] : '';
  const names = raw.split(',').filter((s) => s !== '');
  if (names.length > ctx.config.maxChannelsPerConnection) {
    throw new HeraldError(
      'HERALD_ERR_TOO_MANY_CHANNELS',
      `${names.length} > ${ctx.config.maxChannelsPerConnection}`,
    );
  }
  return distinct(names.map(channelName), ctx.config.maxChannelsPerConnection);
}

/** `?wait=` of a poll: whole milliseconds, at most (and by default) `max`; else 400. */
function pollWait(value: unknown, max: number): number {
  if (value === undefined) return max;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) {
    throw new HeraldError(
      'HERALD_ERR_BAD_REQUEST',
      '"wait" must be a whole number of milliseconds (0 answers at once)',
    );
  }
  return Math.min(Number(value), max);
}
