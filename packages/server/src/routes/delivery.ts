import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { authenticate, authenticateAdmin, type HeraldContext } from '../context.js';
import type { Job, PushSubscription, Webhook } from '../delivery/delivery-store.js';
import { HeraldError } from '../errors.js';
import { backendCall } from '../http/backend-call.js';
import {
  parseDeliveryPreferences,
  parseJobFilter,
  parsePushSubscription,
} from '../http/delivery-input.js';
import { requireObject, requiredString, userChannelOf } from '../http/publish-input.js';

function intParam(raw: unknown, name: string, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', `"${name}" must be an integer ${min}-${max}`);
  }
  return n;
}

function timeParam(raw: unknown, name: string, def: number): number {
  if (raw === undefined) return def;
  const t = typeof raw === 'string' ? Date.parse(raw) : NaN;
  if (Number.isNaN(t))
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', `"${name}" must be an ISO 8601 time`);
  return t;
}

const iso = (ms: number) => new Date(ms).toISOString();

const subscriptionView = (s: PushSubscription) => ({
  id: s.id,
  endpoint: s.endpoint,
  createdAt: iso(s.createdAt),
});

const webhookView = (h: Webhook) => ({ id: h.id, url: h.url, createdAt: iso(h.createdAt) });

const jobView = (j: Job) => ({
  id: j.id,
  channel: j.channel,
  userId: j.userId,
  notificationId: j.notificationId,
  target:
    j.channel === 'email' || j.channel === 'digest'
      ? j.target.replace(/^(.).*(@.*)$/, '$1…$2')
      : j.target,
  state: j.state,
  attempts: j.attempts,
  lastError: j.lastError,
  notBefore: iso(j.notBefore),
  createdAt: iso(j.createdAt),
  updatedAt: iso(j.updatedAt),
});

/**
 * The delivery API (docs/delivery.md): a user's push subscriptions, webhooks and delivery
 * preferences, and the admin's view of the outbox and the delivery analytics. A user acts on
 * their own; an admin may name any user with `?userId=`.
 */
export const deliveryRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  const delivery = ctx.delivery;
  const call = <T>(req: FastifyRequest, op: () => Promise<T>) =>
    backendCall(req, 'delivery operation', op);
  const userOf = async (req: FastifyRequest): Promise<string> => {
    const p: Principal = await authenticate(ctx, req, 'cookie-csrf');
    const q = req.query as Record<string, unknown>;
    if (q['userId'] !== undefined) {
      const other = userChannelOf(q['userId']).slice('user:'.length);
      if (other !== p.userId && !p.admin) throw new HeraldError('HERALD_ERR_FORBIDDEN_INBOX');
      return other;
    }
    if (p.userId === undefined) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'this credential has no user: pass ?userId=');
    }
    return p.userId;
  };
  const notDraining = () => {
    if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
  };

  // The VAPID public key is public by design: the page needs it before it can subscribe.
  app.get('/push/vapid-public-key', async () => ({ publicKey: delivery.vapidPublicKey }));

  app.post('/push/subscriptions', async (req, reply) => {
    notDraining();
    const userId = await userOf(req);
    const s = parsePushSubscription(req.body);
    const sub = await call(req, () => delivery.subscribe(userId, s));
    void reply.code(201);
    return subscriptionView(sub);
  });

  app.get('/push/subscriptions', async (req) => {
    const userId = await userOf(req);
    const subs = await call(req, () => delivery.subscriptions(userId));
    return { subscriptions: subs.map(subscriptionView) };
  });

  /** By id (`/push/subscriptions/{id}`) or by endpoint (`DELETE /push/subscriptions` with `{ "endpoint" }`). */
  const unsubscribe = async (req: FastifyRequest, idOrEndpoint: string) => {
    const userId = await userOf(req);
    const removed = await call(req, () => delivery.unsubscribe(userId, idOrEndpoint));
    if (!removed) throw new HeraldError('HERALD_ERR_PUSH_SUBSCRIPTION_NOT_FOUND');
  };
  app.delete('/push/subscriptions', async (req, reply) => {
    const body = requireObject(req.body);
    await unsubscribe(req, requiredString(body['endpoint'], 'endpoint', 2048));
    return reply.code(204).send();
  });
  app.delete('/push/subscriptions/:id', async (req, reply) => {
    await unsubscribe(req, (req.params as { id: string }).id);
    return reply.code(204).send();
  });

  app.get('/delivery/preferences', async (req) => {
    const userId = await userOf(req);
    return Object.assign({}, await call(req, () => delivery.preferences(userId)), {
      emailEnabled: delivery.emailEnabled,
    });
  });

  app.put('/delivery/preferences', async (req) => {
    notDraining();
    const userId = await userOf(req);
    const prefs = parseDeliveryPreferences(requireObject(req.body));
    return call(req, () => delivery.putPreferences(userId, prefs));
  });

  app.post('/delivery/webhooks', async (req, reply) => {
    notDraining();
    const userId = await userOf(req);
    const url = requiredString(requireObject(req.body)['url'], 'url', 2048);
    const hook = await call(req, () => delivery.addWebhook(userId, url));
    void reply.code(201);
    // The secret is shown once, here; it is never listed again.
    return Object.assign(webhookView(hook), { secret: hook.secret });
  });

  app.get('/delivery/webhooks', async (req) => {
    const userId = await userOf(req);
    return { webhooks: (await call(req, () => delivery.webhooks(userId))).map(webhookView) };
  });

  app.delete('/delivery/webhooks/:id', async (req, reply) => {
    const userId = await userOf(req);
    const { id } = req.params as { id: string };
    if (!(await call(req, () => delivery.deleteWebhook(userId, id)))) {
      throw new HeraldError('HERALD_ERR_WEBHOOK_NOT_FOUND');
    }
    return reply.code(204).send();
  });

  app.get('/admin/delivery/jobs', async (req) => {
    await authenticateAdmin(ctx, req);
    const q = req.query as Record<string, unknown>;
    const filter = parseJobFilter(q);
    const limit = intParam(q['limit'], 'limit', 100, 1, 1000);
    return { jobs: (await call(req, () => delivery.jobs(filter, limit))).map(jobView) };
  });

  /**
   * Hourly rollups per category × channel × counter between `since` and `until` (default:
   * the last 24 hours), their totals, and the outbox's jobs per channel and state.
   */
  app.get('/admin/delivery/stats', async (req, reply) => {
    await authenticateAdmin(ctx, req);
    const q = req.query as Record<string, unknown>;
    const now = Date.now();
    const until = timeParam(q['until'], 'until', now + 1);
    const since = timeParam(q['since'], 'since', now - 24 * 3_600_000);
    const { rollups, jobs } = await call(req, () => delivery.stats(since, until));
    const totals: Record<string, Record<string, number>> = {};
    const read: Record<string, { count: number; sumMs: number }> = {};
    for (const r of rollups) {
      const ch = (totals[r.channel] ??= {});
      ch[r.counter] = (ch[r.counter] ?? 0) + r.count;
      if (r.counter === 'read') {
        const t = (read[r.category] ??= { count: 0, sumMs: 0 });
        t.count += r.count;
        t.sumMs += r.sumMs;
      }
    }
    void reply.header('cache-control', 'no-store');
    return {
      since: iso(since),
      until: iso(until),
      totals,
      meanTimeToReadMs: Object.fromEntries(
        Object.entries(read).map(([c, t]) => [c, Math.round(t.sumMs / t.count)]),
      ),
      buckets: rollups.map((r) => ({
        hour: iso(r.bucket),
        category: r.category,
        channel: r.channel,
        counter: r.counter,
        count: r.count,
        ...(r.counter === 'read' ? { timeToReadMsSum: r.sumMs } : {}),
      })),
      jobs,
    };
  });
};
