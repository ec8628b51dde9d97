import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canSubscribe, type Principal } from '../auth/principal.js';
import { backendUnavailable, isReportedBackendError } from '../backend-health.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { canonicalChannels } from '../hub/cursor.js';
import { redactUrl } from '../logger.js';
import { encodeEvent } from '../sse/encode.js';
import { PollSession } from '../sse/poll-session.js';
import { Session } from '../sse/session.js';
import { channelName, distinct, userChannelOf } from './publish-input.js';

/**
 * The stream routes: `GET /events?channels=a,b`, the seed-compatible alias
 * `GET /events/{userId}` for the channel `user:{userId}`, and their long-poll form
 * `GET /poll?channels=a,b` for clients that cannot hold a stream (docs/http-api.md).
 */
export function eventRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  // Connection attempts per client address are counted first, before the query or the
  // credential is even parsed: a flood of bad requests costs as little as possible.
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkConnectAddress(req);

  app.get('/events', { onRequest: limitAddress }, async (req, reply) => {
    await openStream(ctx, req, reply, queryChannels(ctx, req));
  });

  app.get('/events/:userId', { onRequest: limitAddress }, async (req, reply) => {
    const { userId } = req.params as { userId: string };
    await openStream(ctx, req, reply, [userChannelOf(userId)]);
  });

  app.get('/poll', { onRequest: limitAddress }, async (req, reply) => {
    if (ctx.draining) {
      const seconds = String(Math.max(1, Math.ceil(ctx.config.retryMs / 1000)));
      throw new HeraldError('HERALD_ERR_SHUTTING_DOWN', undefined, { 'Retry-After': seconds });
    }
    const requested = queryChannels(ctx, req);
    const wait = pollWait((req.query as Record<string, unknown>)['wait'], ctx.config.pollWaitMs);
    const principal = await authenticate(ctx, req, true);
    const channels = readableChannels(ctx, req, principal, requested);
    await ctx.limits.rate.checkConnectUser(principal);
    const cursor = resumeCursor(req);
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
    const timer = session.isClosed
      ? undefined
      : setTimeout(() => session.close('poll-answered'), wait);
    const reason = await session.whenClosed();
    clearTimeout(timer);
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
}

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

/** The canonical channel list, once every channel is one the principal may read (else 403). */
function readableChannels(
  ctx: HeraldContext,
  req: FastifyRequest,
  principal: Principal,
  requested: readonly string[],
): string[] {
  const channels = canonicalChannels(requested);
  const denied = channels.filter((c) => !canSubscribe(principal, c, ctx.config.publicChannels));
  if (denied.length > 0) {
    req.log.info({ user: principal.userId, denied: denied.length }, 'channel refused');
    throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
  }
  return channels;
}

/** The resume cursor: the `Last-Event-ID` header, else `?lastEventId=`. */
function resumeCursor(req: FastifyRequest): string | undefined {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string') return header;
  const q = req.query as Record<string, unknown>;
  return typeof q['lastEventId'] === 'string' ? q['lastEventId'] : undefined;
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
  const channels = readableChannels(ctx, req, principal, requested);
  await ctx.limits.rate.checkConnectUser(principal);
  // From here to `connections.add` nothing awaits: the cap check and the count are one step.
  const evictions = ctx.limits.connections.admit(principal.userId, req.ip);
  const cursor = resumeCursor(req);

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
