import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { HeraldContext } from '../context.js';
import { channelName } from '../http/publish-input.js';
import { streamHost } from '../http/stream-host.js';
import { InboxAccess } from '../inbox/access.js';
import { AlertSession, AlertStreams } from '../inbox/alert-session.js';
import { notificationView } from '../inbox/view.js';
import { openStream } from '../sse/open-stream.js';

/**
 * The alert stream: `GET /alerts/stream` (the caller's own inbox) or
 * `GET /alerts/stream?channel=alerts` (a shared feed). On connect: `summary` (unacked by
 * severity, unread by category), then `historical` (the last `alertHistoryWindowSec`, at
 * most `alertHistoryMax`, newest first); then live `new_event`, `ack_event`, `summary`;
 * `ping` every `alertPingMs`; `shutdown` when the server closes it. It is a snapshot
 * stream: a reconnect gets a fresh snapshot (the cursor of `/events` is not used).
 */
export const alertStreamRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (
  app,
  { ctx },
) => {
  const host = streamHost(ctx, app.log, 'alert stream');
  const access = new InboxAccess(ctx.inbox, ctx.config.publicChannels);
  const streams = new AlertStreams(ctx.config.alertPingMs);
  app.addHook('onClose', async () => streams.close());
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkConnectAddress(req);
  const windowMs = ctx.config.alertHistoryWindowSec * 1000;
  const max = ctx.config.alertHistoryMax;

  app.get('/alerts/stream', { onRequest: limitAddress }, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    await openStream(host, req, reply, (principal) => {
      const asked = q['channel'] === undefined ? undefined : channelName(q['channel']);
      const { scope, channel } = access.alertScope(principal, asked);
      return {
        channels: [channel],
        session: (res, options) => new AlertSession(res, options),
        onOpen: (s) => streams.add(s),
        onClose: (s) => streams.remove(s),
        preamble: async (s) => {
          s.writeControl('summary', await ctx.inbox.summary(scope), false);
          const rows = await ctx.inbox.list(
            scope,
            { since: Date.now() - windowMs },
            max,
            undefined,
          );
          for (const r of rows) s.historical.add(r.id);
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
      };
    });
  });
};
