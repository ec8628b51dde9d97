import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canSubscribe } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { AlertSession, AlertStreams } from '../inbox/alert-session.js';
import type { InboxScope } from '../inbox/inbox-store.js';
import { notificationView } from '../inbox/view.js';
import { redactUrl } from '../logger.js';
import { answerDraining, answerSetupFailure } from './events.js';
import { EVERYONE_CHANNEL } from './notification-send.js';
import { channelName } from './publish-input.js';

/**
 * Seed 003's alert stream: `GET /alerts/stream` (the caller's own inbox) or
 * `GET /alerts/stream?channel=alerts` (a shared feed). On connect: `summary` (unacked by
 * severity, unread by category), then `historical` (the last `alertHistoryWindowSec`, at
 * most `alertHistoryMax`, newest first); then live `new_event`, `ack_event`, `summary`;
 * `ping` every `alertPingMs`; `shutdown` when the server closes it. It is a snapshot
 * stream: a reconnect gets a fresh snapshot (the cursor of `/events` is not used).
 */
export function alertStreamRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  const streams = new AlertStreams(ctx.config.alertPingMs);
  app.addHook('onClose', async () => streams.close());
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkConnectAddress(req);

  app.get('/alerts/stream', { onRequest: limitAddress }, async (req, reply) => {
    if (ctx.draining) {
      // As /events: EventSource retries after a stream that ends, never after a 503.
      answerDraining(reply, ctx.config.retryMs);
      return;
    }
    const p = await authenticate(ctx, req, 'stream');
    const q = req.query as Record<string, unknown>;
    let scope: InboxScope;
    let channel: string;
    if (q['channel'] !== undefined) {
      channel = channelName(q['channel']);
      if (!canSubscribe(p, channel, ctx.config.publicChannels)) {
        throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
      }
      if (channel === EVERYONE_CHANNEL) {
        throw new HeraldError(
          'HERALD_ERR_BAD_REQUEST',
          "notifications to everyone are in each user's own alert stream",
        );
      }
      scope = channel.startsWith('user:')
        ? { kind: 'user', userId: channel.slice('user:'.length) }
        : { kind: 'feed', channel };
    } else {
      if (p.userId === undefined) {
        throw new HeraldError(
          'HERALD_ERR_BAD_REQUEST',
          'this credential has no user: pass ?channel=',
        );
      }
      scope = { kind: 'user', userId: p.userId };
      channel = `user:${p.userId}`;
    }
    await ctx.limits.rate.checkConnectUser(p);
    // From here to `connections.add` nothing awaits: the cap check and the count are one step.
    const evictions = ctx.limits.connections.admit(p.userId, req.ip);
    const res = reply.raw;
    reply.hijack();
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) res.setHeader(name, value);
    }
    const log = req.log;
    const session = new AlertSession(res, {
      channels: [channel],
      sendBufferBytes: ctx.config.sendBufferBytes,
      expiresAt: p.expiresAt,
      userId: p.userId,
      onClose: (s, reason) => {
        ctx.hub.detach(s);
        ctx.limits.connections.remove(s);
        streams.remove(session);
        if (reason === 'slow-consumer') ctx.hub.stats.slowConsumers++;
        ctx.metrics.connectionClosed(reason);
        log.info({ connection: s.id, user: s.userId, reason }, 'alert stream disconnect');
      },
    });
    ctx.limits.connections.add(session, req.ip);
    ctx.limits.connections.evict(evictions);
    ctx.metrics.connectionOpened();
    streams.add(session);
    log.info(
      { connection: session.id, user: p.userId, url: redactUrl(req.url) },
      'alert stream connect',
    );
    const windowMs = ctx.config.alertHistoryWindowSec * 1000;
    const max = ctx.config.alertHistoryMax;
    try {
      await ctx.hub.attach(session, {
        cursor: undefined,
        retryMs: ctx.config.retryMs,
        preamble: async (s) => {
          const summary = await ctx.inbox.summary(scope);
          s.writeControl('summary', summary, false);
          const rows = await ctx.inbox.list(
            scope,
            { since: Date.now() - windowMs },
            max,
            undefined,
          );
          for (const r of rows) session.historical.add(r.id);
          s.writeControl(
            'historical',
            {
              events: rows.map(notificationView),
              windowSec: ctx.config.alertHistoryWindowSec,
              limit: max,
            },
            false,
          );
        },
      });
    } catch (err) {
      answerSetupFailure(log, res, session, err, 'alert stream setup failed');
    }
  });
}
