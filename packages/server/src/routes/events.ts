import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canSubscribe } from '../auth/principal.js';
import { backendUnavailable, isReportedBackendError } from '../backend-health.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { canonicalChannels } from '../hub/cursor.js';
import { redactUrl } from '../logger.js';
import { encodeEvent } from '../sse/encode.js';
import { Session } from '../sse/session.js';
import { channelName, distinct, userChannelOf } from './publish-input.js';

/**
 * The stream routes: `GET /events?channels=a,b` and the seed-compatible alias
 * `GET /events/{userId}` for the channel `user:{userId}`.
 */
export function eventRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  // Connection attempts per client address are counted first, before the query or the
  // credential is even parsed: a flood of bad requests costs as little as possible.
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkConnectAddress(req);

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
    await openStream(ctx, req, reply, channels);
  });

  app.get('/events/:userId', { onRequest: limitAddress }, async (req, reply) => {
    const { userId } = req.params as { userId: string };
    await openStream(ctx, req, reply, [userChannelOf(userId)]);
  });
}

async function openStream(
  ctx: HeraldContext,
  req: FastifyRequest,
  reply: FastifyReply,
  requested: string[],
): Promise<void> {
  if (ctx.draining) {
    answerDraining(reply, ctx.config.retryMs);
    return;
  }
  const principal = await authenticate(ctx, req, true);
  const channels = canonicalChannels(requested);
  const denied = channels.filter((c) => !canSubscribe(principal, c, ctx.config.publicChannels));
  if (denied.length > 0) {
    req.log.info({ user: principal.userId, denied: denied.length }, 'channel refused');
    throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
  }
  await ctx.limits.rate.checkConnectUser(principal);
  // From here to `connections.add` nothing awaits: the cap check and the count are one step.
  const evictions = ctx.limits.connections.admit(principal.userId, req.ip);
  const header = req.headers['last-event-id'];
  const q = req.query as Record<string, unknown>;
  const cursor =
    typeof header === 'string'
      ? header
      : typeof q['lastEventId'] === 'string'
        ? q['lastEventId']
        : undefined;

  const res = reply.raw;
  reply.hijack();
  // Headers set by hooks (CORS, Vary) must survive the hijack: the session writes the head.
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) res.setHeader(name, value);
  }
  const log = req.log;
  const openedAt = Date.now();
  const session = new Session(res, {
    channels,
    sendBufferBytes: ctx.config.sendBufferBytes,
    expiresAt: principal.expiresAt,
    userId: principal.userId,
    onClose: (s, reason) => {
      ctx.hub.detach(s);
      ctx.limits.connections.remove(s);
      if (reason === 'slow-consumer') ctx.hub.stats.slowConsumers++;
      ctx.metrics.connectionClosed(reason);
      const level = reason === 'slow-consumer' || reason === 'error' ? 'warn' : 'info';
      log[level](
        { connection: s.id, user: s.userId, reason, durationMs: Date.now() - openedAt },
        'sse disconnect',
      );
    },
  });
  ctx.limits.connections.add(session, req.ip);
  ctx.limits.connections.evict(evictions);
  log.info(
    {
      connection: session.id,
      user: principal.userId,
      channels: channels.length,
      url: redactUrl(req.url),
    },
    'sse connect',
  );
  ctx.metrics.connectionOpened();
  try {
    await ctx.hub.attach(session, { cursor, retryMs: ctx.config.retryMs });
  } catch (err) {
    answerSetupFailure(log, res, session, err, 'stream setup failed');
  }
}

/**
 * The answer to a stream whose setup failed on the store or the broker: the backend's 503
 * when nothing was sent yet, else a `stream-error` event and the end of the stream (the
 * client retries). A backend outage is logged once by its health; per stream only at debug.
 */
export function answerSetupFailure(
  log: FastifyRequest['log'],
  res: ServerResponse,
  session: Session,
  err: unknown,
  message: string,
): void {
  log[isReportedBackendError(err) ? 'debug' : 'error']({ err, connection: session.id }, message);
  const error = backendUnavailable(err);
  if (!res.headersSent) {
    res.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(error.toJSON()));
  } else if (!session.isClosed) {
    session.writeControl('stream-error', error.toJSON().error, false);
    session.close('error');
  }
}

/**
 * The answer of a draining node to a stream request. EventSource gives up for good on any
 * non-200 answer but retries after a stream that ends, so this is an empty stream with a
 * `shutdown` event and a `retry:` hint saying when to come back (elsewhere, behind a proxy).
 */
export function answerDraining(reply: FastifyReply, retryMs: number): void {
  const res = reply.raw;
  reply.hijack();
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'close' });
  res.end(
    encodeEvent({
      event: 'shutdown',
      data: JSON.stringify({ reason: 'server-shutdown', retryMs }),
    }) + encodeEvent({ retry: retryMs }),
  );
}
