import { canPublish, canSubscribe, type Principal } from '../auth/principal.js';
import { HeraldError } from '../errors.js';
import { EVERYONE, type InboxFilter, type InboxScope, type StateChange } from './inbox-store.js';
import { EVERYONE_CHANNEL, type InboxService } from './service.js';

/**
 * Who may see and change which inbox: the scope rules of the inbox API (docs/inbox.md).
 * The routes parse the request; these rules decide, so every inbox route applies the
 * same ones.
 */

export const ACTIONS = ['read', 'unread', 'seen', 'ack', 'archive', 'unarchive'] as const;
export type Action = (typeof ACTIONS)[number];

export type Access = 'read' | 'change' | 'delete';

/** Who acknowledged: the user, else the API key's id. */
function actor(p: Principal): string {
  if (p.userId !== undefined) return p.userId;
  return p.keyId !== undefined ? `key:${p.keyId}` : 'api-key';
}

/** The state change an action of `p` stands for. */
export function changeOf(action: Action, p: Principal): StateChange {
  return action === 'ack' ? { kind: 'ack', by: actor(p) } : { kind: action };
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

function mayDelete(p: Principal, channel: string): boolean {
  return p.admin || canPublish(p, channel);
}

function forbidden(access: Access): HeraldError {
  return new HeraldError(
    access === 'delete' ? 'HERALD_ERR_FORBIDDEN_PUBLISH' : 'HERALD_ERR_FORBIDDEN_CHANNEL',
  );
}

export const notFound = (): HeraldError => new HeraldError('HERALD_ERR_NOTIFICATION_NOT_FOUND');

function userScope(p: Principal, userId: string): InboxScope {
  if (!mayActFor(p, userId)) throw new HeraldError('HERALD_ERR_FORBIDDEN_INBOX');
  return { kind: 'user', userId };
}

/** The scope rules, with the channels every subscriber may read (`publicChannels`). */
export class InboxAccess {
  constructor(
    private readonly inbox: InboxService,
    private readonly publicChannels: readonly string[],
  ) {}

  private mayRead(p: Principal, channel: string): boolean {
    return p.admin || canSubscribe(p, channel, this.publicChannels) || canPublish(p, channel);
  }

  /**
   * The inbox a list or bulk request is about: the caller's own (default), another user's
   * (`userId`, see `mayActFor`), a shared feed (`channel: 'alerts'`) or the notifications to
   * everyone (`channel: 'broadcast'`). At most one is given, each a validated name.
   */
  scopeOf(
    p: Principal,
    target: { userId?: string | undefined; channel?: string | undefined },
    access: Access,
  ): InboxScope {
    const { userId, channel: c } = target;
    if (c !== undefined) {
      if (c.startsWith('user:')) return userScope(p, c.slice('user:'.length));
      if (c === EVERYONE_CHANNEL) {
        if (access === 'change') {
          throw new HeraldError(
            'HERALD_ERR_BAD_REQUEST',
            'notifications to everyone have a state per user: change them in a user inbox',
          );
        }
        const ok = access === 'delete' ? mayDelete(p, c) : this.mayRead(p, c);
        if (!ok) throw forbidden(access);
        return { kind: 'everyone' };
      }
      const ok = access === 'delete' ? mayDelete(p, c) : this.mayRead(p, c);
      if (!ok) throw forbidden(access);
      return { kind: 'feed', channel: c };
    }
    if (userId === undefined) {
      if (p.userId === undefined) {
        throw new HeraldError(
          'HERALD_ERR_BAD_REQUEST',
          'this credential has no user: pass ?userId= (or ?channel=)',
        );
      }
      return { kind: 'user', userId: p.userId };
    }
    return userScope(p, userId);
  }

  /**
   * The scope in which notification `id` is seen by `p` (acting as user `asUser`, when
   * given). Whatever keeps `p` out answers 404, exactly as an unknown id does, so ids of
   * other inboxes cannot be probed. Scheduled rows are seen only by those who may publish
   * to their owner.
   */
  async scopeOfId(
    p: Principal,
    id: string,
    asUser: string | undefined,
    access: Access,
  ): Promise<{ scope: InboxScope; filter: InboxFilter }> {
    const loc = await this.inbox.locate(id);
    if (!loc) throw notFound();
    const channel = this.inbox.liveChannel(loc.owner);
    let scope: InboxScope;
    if (loc.owner === EVERYONE) {
      if (asUser !== undefined) scope = userScope(p, asUser);
      else if (p.userId !== undefined) scope = { kind: 'user', userId: p.userId };
      else if (access === 'change') {
        throw new HeraldError(
          'HERALD_ERR_BAD_REQUEST',
          'notifications to everyone have a state per user: pass ?userId=',
        );
      } else if (access === 'delete' ? mayDelete(p, channel) : this.mayRead(p, channel))
        scope = { kind: 'everyone' };
      else throw notFound();
    } else if (loc.owner.startsWith('user:')) {
      const owner = loc.owner.slice('user:'.length);
      // Another user's id looks exactly like an unknown one; acting for a user is explicit.
      const self = p.userId === owner && (asUser === undefined || asUser === owner);
      if (!self && !(asUser === owner && mayActFor(p, owner))) throw notFound();
      scope = { kind: 'user', userId: owner };
    } else {
      if (!this.mayRead(p, loc.owner)) throw notFound();
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

  /** A `status` filter (scheduled rows) is for those who may publish to the scope's channel. */
  checkStatusFilter(p: Principal, filter: InboxFilter, scope: InboxScope): void {
    const channel =
      scope.kind === 'user'
        ? `user:${scope.userId}`
        : this.inbox.liveChannel(scope.kind === 'feed' ? scope.channel : EVERYONE);
    if (filter.status !== undefined && !(p.admin || canPublish(p, channel))) {
      throw new HeraldError('HERALD_ERR_FORBIDDEN_PUBLISH', '"status" is for publishers');
    }
  }

  /**
   * The alert stream's scope: a shared feed or a user channel `p` may read, or `p`'s own
   * inbox; with the channel its live events arrive on.
   */
  alertScope(p: Principal, channel: string | undefined): { scope: InboxScope; channel: string } {
    if (channel !== undefined) {
      if (!canSubscribe(p, channel, this.publicChannels)) {
        throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
      }
      if (channel === EVERYONE_CHANNEL) {
        throw new HeraldError(
          'HERALD_ERR_BAD_REQUEST',
          "notifications to everyone are in each user's own alert stream",
        );
      }
      const scope: InboxScope = channel.startsWith('user:')
        ? { kind: 'user', userId: channel.slice('user:'.length) }
        : { kind: 'feed', channel };
      return { scope, channel };
    }
    if (p.userId === undefined) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'this credential has no user: pass ?channel=',
      );
    }
    return { scope: { kind: 'user', userId: p.userId }, channel: `user:${p.userId}` };
  }
}
