import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canPublish, canSubscribe, type Principal } from '../auth/principal.js';
import { isReportedBackendError } from '../backend-health.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import {
  EVERYONE,
  type InboxFilter,
  type InboxScope,
  type StateChange,
} from '../inbox/inbox-store.js';
import { notificationView } from '../inbox/view.js';
import {
  decodePageCursor,
  encodePageCursor,
  pageLimit,
  parseFilter,
  parsePreferences,
  parseSend,
} from './inbox-input.js';
import { EVERYONE_CHANNEL, sendNotifications } from './notification-send.js';
import { publishGate } from './publish.js';
import { channelName, distinct, requireObject, userChannelOf } from './publish-input.js';

const ACTIONS = ['read', 'unread', 'seen', 'ack', 'archive', 'unarchive'] as const;
type Action = (typeof ACTIONS)[number];

/** Default and largest page of `GET /notifications`. */
const PAGE = 50;
const MAX_PAGE = 200;

/** Runs an inbox operation; a failing store answers 503, request errors pass through. */
async function storeCall<T>(req: FastifyRequest, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof HeraldError) throw err;
    req.log[isReportedBackendError(err) ? 'debug' : 'error']({ err }, 'inbox operation failed');
    throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
  }
}

/** Who acknowledged: the user, else the API key's id. */
function actor(p: Principal): string {
  if (p.userId !== undefined) return p.userId;
  return p.keyId !== undefined ? `key:${p.keyId}` : 'api-key';
}

/**
 * May `p` act on user `userId`'s inbox? Their own, always. Someone else's only as an admin
 * or with an API key that may publish to `user:{userId}` (a backend acting for its users);
 * a user token never reaches another user's inbox, whatever its publish grants.
 */
function mayActFor(p: Principal, userId: string): boolean {
  if (p.userId === userId) return true;
  return p.admin || (p.kind === 'api-key' && canPublish(p, `user:${userId}`));
}

function mayRead(ctx: HeraldContext, p: Principal, channel: string): boolean {
  return p.admin || canSubscribe(p, channel, ctx.config.publicChannels) || canPublish(p, channel);
}

function mayDelete(p: Principal, channel: string): boolean {
  return p.admin || canPublish(p, channel);
}

type Access = 'read' | 'change' | 'delete';

/**
 * The inbox a list or bulk request is about: the caller's own (default), another user's
 * (`?userId=`, see `mayActFor`), a shared feed (`?channel=alerts`) or the notifications to
 * everyone (`?channel=broadcast`).
 */
function scopeOfRequest(ctx: HeraldContext, p: Principal, req: FastifyRequest, access: Access) {
  const q = req.query as Record<string, unknown>;
  const userId = q['userId'];
  const channel = q['channel'];
  if (userId !== undefined && channel !== undefined) {
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'give "userId" or "channel", not both');
  }
  if (channel !== undefined) {
    const c = channelName(channel);
    if (c.startsWith('user:')) return userScope(p, c.slice('user:'.length));
    if (c === EVERYONE_CHANNEL) {
      if (access === 'change') {
        throw new HeraldError(
          'HERALD_ERR_BAD_REQUEST',
          'notifications to everyone have a state per user: change them in a user inbox',
        );
      }
      const ok = access === 'delete' ? mayDelete(p, c) : mayRead(ctx, p, c);
      if (!ok) throw forbidden(access);
      return { kind: 'everyone' } as const;
    }
    const ok = access === 'delete' ? mayDelete(p, c) : mayRead(ctx, p, c);
    if (!ok) throw forbidden(access);
    return { kind: 'feed', channel: c } as const;
  }
  if (userId === undefined) {
    if (p.userId === undefined) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'this credential has no user: pass ?userId= (or ?channel=)',
      );
    }
    return { kind: 'user', userId: p.userId } as const;
  }
  return userScope(p, userChannelOf(userId).slice('user:'.length));
}

function userScope(p: Principal, userId: string): InboxScope {
  if (!mayActFor(p, userId)) throw new HeraldError('HERALD_ERR_FORBIDDEN_INBOX');
  return { kind: 'user', userId };
}

function forbidden(access: Access): HeraldError {
  return new HeraldError(
    access === 'delete' ? 'HERALD_ERR_FORBIDDEN_PUBLISH' : 'HERALD_ERR_FORBIDDEN_CHANNEL',
  );
}

const notFound = () => new HeraldError('HERALD_ERR_NOTIFICATION_NOT_FOUND');

/**
 * The scope in which notification `id` is seen by `p`. Whatever keeps `p` out answers 404,
 * exactly as an unknown id does, so ids of other inboxes cannot be probed. Scheduled rows
 * are seen only by those who may publish to their owner.
 */
async function scopeOfId(
  ctx: HeraldContext,
  p: Principal,
  req: FastifyRequest,
  id: string,
  access: Access,
): Promise<{ scope: InboxScope; filter: InboxFilter }> {
  const q = req.query as Record<string, unknown>;
  const asUser =
    q['userId'] === undefined ? undefined : userChannelOf(q['userId']).slice('user:'.length);
  const loc = await storeCall(req, () => ctx.inbox.locate(id));
  if (!loc) throw notFound();
  const channel = ctx.inbox.liveChannel(loc.owner);
  let scope: InboxScope;
  if (loc.owner === EVERYONE) {
    if (asUser !== undefined) scope = userScope(p, asUser);
    else if (p.userId !== undefined) scope = { kind: 'user', userId: p.userId };
    else if (access === 'change') {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'notifications to everyone have a state per user: pass ?userId=',
      );
    } else if (access === 'delete' ? mayDelete(p, channel) : mayRead(ctx, p, channel))
      scope = { kind: 'everyone' };
    else throw notFound();
  } else if (loc.owner.startsWith('user:')) {
    const owner = loc.owner.slice('user:'.length);
    // Another user's id looks exactly like an unknown one; acting for a user is explicit.
    const self = p.userId === owner && (asUser === undefined || asUser === owner);
    if (!self && !(asUser === owner && mayActFor(p, owner))) throw notFound();
    scope = { kind: 'user', userId: owner };
  } else {
    if (!mayRead(ctx, p, loc.owner)) throw notFound();
    if (access === 'delete' && !mayDelete(p, loc.owner)) {
      throw new HeraldError('HERALD_ERR_FORBIDDEN_PUBLISH');
    }
    scope = { kind: 'feed', channel: loc.owner };
  }
  if (loc.status === 'scheduled') {
    if (!(p.admin || canPublish(p, channel))) throw notFound();
    return { scope, filter: { ids: [id], status: 'any' } };
  }
  return { scope, filter: { ids: [id] } };
}

function changeOf(action: Action, p: Principal): StateChange {
  return action === 'ack' ? { kind: 'ack', by: actor(p) } : { kind: action };
}

function actionOf(value: unknown): Action {
  if (typeof value !== 'string' || !(ACTIONS as readonly string[]).includes(value)) {
    throw new HeraldError('HERALD_ERR_NOT_FOUND');
  }
  return value as Action;
}

/**
 * The inbox API (docs/inbox.md): send, list with filters and cursor, read one, change
 * state (one, or all matching a filter), delete, summary, preferences; plus seed 003's
 * `POST /events/{id}/ack`. Reading and changing one's own inbox accepts the header, or
 * the cookie with the CSRF double-submit check; sending needs a publisher credential.
 */
export function notificationRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  const inbox = ctx.inbox;
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkPublishAddress(req);
  const user = (req: FastifyRequest) => authenticate(ctx, req, 'cookie-csrf');
  const notDraining = () => {
    if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
  };
  const publisherOnlyStatus = (p: Principal, filter: InboxFilter, scope: InboxScope) => {
    const channel =
      scope.kind === 'user'
        ? `user:${scope.userId}`
        : inbox.liveChannel(scope.kind === 'feed' ? scope.channel : EVERYONE);
    if (filter.status !== undefined && !(p.admin || canPublish(p, channel))) {
      throw new HeraldError('HERALD_ERR_FORBIDDEN_PUBLISH', '"status" is for publishers');
    }
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
    return publishGate(ctx, req, reply, channels, () =>
      sendNotifications(ctx, req, owners, parsed),
    );
  });

  app.get('/notifications', async (req) => {
    const p = await user(req);
    const scope = scopeOfRequest(ctx, p, req, 'read');
    const q = req.query as Record<string, unknown>;
    const filter = parseFilter(q, { archived: false });
    publisherOnlyStatus(p, filter, scope);
    const limit = pageLimit(q['limit'], PAGE, MAX_PAGE);
    const before = decodePageCursor(q['cursor']);
    const rows = await storeCall(req, () => inbox.list(scope, filter, limit + 1, before));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      notifications: page.map(notificationView),
      nextCursor: rows.length > limit && last ? encodePageCursor(last) : null,
    };
  });

  app.get('/notifications/summary', async (req) => {
    const p = await user(req);
    const scope = scopeOfRequest(ctx, p, req, 'read');
    return storeCall(req, () => inbox.summary(scope));
  });

  app.get('/notifications/preferences', async (req) => {
    const p = await user(req);
    const scope = scopeOfRequest(ctx, p, req, 'read');
    if (scope.kind !== 'user') throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'users only');
    return storeCall(req, () => inbox.preferences(scope.userId));
  });

  app.put('/notifications/preferences', async (req) => {
    notDraining();
    const p = await user(req);
    const scope = scopeOfRequest(ctx, p, req, 'change');
    if (scope.kind !== 'user') throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'users only');
    const prefs = parsePreferences(requireObject(req.body));
    return storeCall(req, () => inbox.putPreferences(scope.userId, prefs));
  });

  app.get('/notifications/:id', async (req) => {
    const p = await user(req);
    const { id } = req.params as { id: string };
    const { scope, filter } = await scopeOfId(ctx, p, req, id, 'read');
    const n = await storeCall(req, () => inbox.get(scope, id, filter.status as 'any'));
    if (!n) throw notFound();
    return notificationView(n);
  });

  app.delete('/notifications/:id', async (req) => {
    notDraining();
    const p = await user(req);
    const { id } = req.params as { id: string };
    const { scope, filter } = await scopeOfId(ctx, p, req, id, 'delete');
    const ids = await storeCall(req, () => inbox.remove(scope, filter));
    if (ids.length === 0) throw notFound();
    return { deleted: ids };
  });

  const changeOne = async (req: FastifyRequest, id: string, action: Action) => {
    notDraining();
    const p = await user(req);
    const { scope, filter } = await scopeOfId(ctx, p, req, id, 'change');
    const changed = await storeCall(req, () => inbox.mark(scope, filter, changeOf(action, p)));
    const n = await storeCall(req, () => inbox.get(scope, id, filter.status as 'any'));
    if (!n) throw notFound();
    return { changed: changed.length > 0, notification: notificationView(n) };
  };

  app.post('/notifications/:id/:action', async (req) => {
    const { id, action } = req.params as { id: string; action: string };
    return changeOne(req, id, actionOf(action));
  });

  // Seed 003: acknowledge an alert; every viewer sees `ack_event` at once.
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
      const scope = scopeOfRequest(ctx, p, req, 'delete');
      const ids = await storeCall(req, () => inbox.remove(scope, filter));
      return { count: ids.length, ids };
    }
    const change = changeOf(actionOf(action), p);
    const scope = scopeOfRequest(ctx, p, req, 'change');
    const ids = await storeCall(req, () => inbox.mark(scope, filter, change));
    return { count: ids.length, ids };
  });
}
