import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { backendCall } from '../http/backend-call.js';
import {
  decodePageCursor,
  encodePageCursor,
  pageLimit,
  parseFilter,
  parsePreferences,
  parseSend,
} from '../http/inbox-input.js';
import { channelName, distinct, requireObject, userChannelOf } from '../http/publish-input.js';
import {
  ACTIONS,
  type Access,
  type Action,
  InboxAccess,
  changeOf,
  notFound,
} from '../inbox/access.js';
import { EVERYONE, EVERYONE_CHANNEL } from '../inbox/service.js';
import { notificationView } from '../inbox/view.js';

/** Default and largest page of `GET /notifications`. */
const PAGE = 50;
const MAX_PAGE = 200;

function actionOf(value: unknown): Action {
  if (typeof value !== 'string' || !(ACTIONS as readonly string[]).includes(value)) {
    throw new HeraldError('HERALD_ERR_NOT_FOUND');
  }
  return value as Action;
}

/** `?userId=` as a user id (validated), or undefined. */
function asUserOf(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, unknown>;
  return q['userId'] === undefined ? undefined : userChannelOf(q['userId']).slice('user:'.length);
}

/** `?channel=` as a validated channel name, or undefined. */
function channelOf(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, unknown>;
  return q['channel'] === undefined ? undefined : channelName(q['channel']);
}

/**
 * The inbox API (docs/inbox.md): send, list with filters and cursor, read one, change
 * state (one, or all matching a filter), delete, summary, preferences; plus the alert
 * acknowledgement `POST /events/{id}/ack`. Reading and changing one's own inbox accepts the header, or
 * the cookie with the CSRF double-submit check; sending needs a publisher credential.
 */
export const notificationRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (
  app,
  { ctx },
) => {
  const inbox = ctx.inbox;
  const access = new InboxAccess(inbox, ctx.config.publicChannels);
  const call = <T>(req: FastifyRequest, op: () => Promise<T>) =>
    backendCall(req, 'inbox operation', op);
  const scopeOfRequest = (p: Principal, req: FastifyRequest, a: Access) => {
    const q = req.query as Record<string, unknown>;
    if (q['userId'] !== undefined && q['channel'] !== undefined) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'give "userId" or "channel", not both');
    }
    return access.scopeOf(p, { userId: asUserOf(req), channel: channelOf(req) }, a);
  };
  const scopeOfId = (p: Principal, req: FastifyRequest, id: string, a: Access) =>
    call(req, () => access.scopeOfId(p, id, asUserOf(req), a));
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkPublishAddress(req);
  const user = (req: FastifyRequest) => authenticate(ctx, req, 'cookie-csrf');
  const notDraining = () => {
    if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
  };

  // Send: one user, a list of users, a shared feed, or everyone.
  app.post('/notifications', { onRequest: limitAddress }, async (req, reply) => {
    const body = requireObject(req.body);
    const targets = ['userId', 'users', 'channel', 'everyone'].filter((k) => body[k] !== undefined);
    if (targets.length !== 1) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'give exactly one of "userId", "users", "channel" or "everyone": true',
      );
    }
    let channels: string[];
    let owners: string[];
    if (body['userId'] !== undefined) {
      channels = owners = [userChannelOf(body['userId'])];
    } else if (body['users'] !== undefined) {
      const users = body['users'];
      if (!Array.isArray(users)) {
        throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"users" must be an array of user ids');
      }
      if (users.length > 10_000) {
        throw new HeraldError('HERALD_ERR_TOO_MANY_CHANNELS', 'at most 10000 users');
      }
      channels = owners = distinct(users.map(userChannelOf), 10_000);
    } else if (body['channel'] !== undefined) {
      const c = channelName(body['channel']);
      if (c === EVERYONE_CHANNEL) {
        channels = [c];
        owners = [EVERYONE];
      } else channels = owners = [c];
    } else {
      if (body['everyone'] !== true) {
        throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"everyone" must be true');
      }
      channels = [EVERYONE_CHANNEL];
      owners = [EVERYONE];
    }
    const parsed = parseSend(body);
    return app.publishGate(req, reply, channels, (plan) =>
      backendCall(req, 'notification send', () =>
        inbox.send(owners, parsed.content, parsed.options, plan),
      ),
    );
  });

  app.get('/notifications', async (req) => {
    const p = await user(req);
    const scope = scopeOfRequest(p, req, 'read');
    const q = req.query as Record<string, unknown>;
    const filter = parseFilter(q, { archived: false });
    access.checkStatusFilter(p, filter, scope);
    const limit = pageLimit(q['limit'], PAGE, MAX_PAGE);
    const before = decodePageCursor(q['cursor']);
    const rows = await call(req, () => inbox.list(scope, filter, limit + 1, before));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      notifications: page.map(notificationView),
      nextCursor: rows.length > limit && last ? encodePageCursor(last) : null,
    };
  });

  app.get('/notifications/summary', async (req) => {
    const p = await user(req);
    const scope = scopeOfRequest(p, req, 'read');
    return call(req, () => inbox.summary(scope));
  });

  app.get('/notifications/preferences', async (req) => {
    const p = await user(req);
    const scope = scopeOfRequest(p, req, 'read');
    if (scope.kind !== 'user') throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'users only');
    return call(req, () => inbox.preferences(scope.userId));
  });

  app.put('/notifications/preferences', async (req) => {
    notDraining();
    const p = await user(req);
    const scope = scopeOfRequest(p, req, 'change');
    if (scope.kind !== 'user') throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'users only');
    const prefs = parsePreferences(requireObject(req.body));
    return call(req, () => inbox.putPreferences(scope.userId, prefs));
  });

  app.get('/notifications/:id', async (req) => {
    const p = await user(req);
    const { id } = req.params as { id: string };
    const { scope, filter } = await scopeOfId(p, req, id, 'read');
    const n = await call(req, () => inbox.get(scope, id, filter.status as 'any'));
    if (!n) throw notFound();
    return notificationView(n);
  });

  app.delete('/notifications/:id', async (req) => {
    notDraining();
    const p = await user(req);
    const { id } = req.params as { id: string };
    const { scope, filter } = await scopeOfId(p, req, id, 'delete');
    const ids = await call(req, () => inbox.remove(scope, filter));
    if (ids.length === 0) throw notFound();
    return { deleted: ids };
  });

  const changeOne = async (req: FastifyRequest, id: string, action: Action) => {
    notDraining();
    const p = await user(req);
    const { scope, filter } = await scopeOfId(p, req, id, 'change');
    const changed = await call(req, () => inbox.mark(scope, filter, changeOf(action, p)));
    const n = await call(req, () => inbox.get(scope, id, filter.status as 'any'));
    if (!n) throw notFound();
    return { changed: changed.length > 0, notification: notificationView(n) };
  };

  app.post('/notifications/:id/:action', async (req) => {
    const { id, action } = req.params as { id: string; action: string };
    return changeOne(req, id, actionOf(action));
  });

  // Acknowledge an alert; every viewer of its alert stream sees `ack_event` at once.
  app.post('/events/:id/ack', async (req) => {
    const { id } = req.params as { id: string };
    return changeOne(req, id, 'ack');
  });

  // Bulk: every notification matching the body's filter (no filter: all of them).
  app.post('/notifications/:action', async (req) => {
    notDraining();
    const { action } = req.params as { action: string };
    const p = await user(req);
    const body = req.body === undefined || req.body === null ? {} : requireObject(req.body);
    const filter = parseFilter(body, { archived: undefined });
    if (filter.status !== undefined) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"status" cannot be changed in bulk');
    }
    if (action === 'delete') {
      const scope = scopeOfRequest(p, req, 'delete');
      const ids = await call(req, () => inbox.remove(scope, filter));
      return { count: ids.length, ids };
    }
    const change = changeOf(actionOf(action), p);
    const scope = scopeOfRequest(p, req, 'change');
    const ids = await call(req, () => inbox.mark(scope, filter, change));
    return { count: ids.length, ids };
  });
};
