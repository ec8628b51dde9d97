import type { Herald, HeraldEvent } from '../herald.js';
import type { HeraldApi, HeraldApiError } from './api.js';
import { followInbox } from './inbox-source.js';
import {
  compareNewestFirst,
  filterQuery,
  matchesFilter,
  optimisticPatch,
  patchOfEvent,
  type InboxAction,
  type Notification,
  type NotificationFilter,
} from './notification.js';
import { RunningStore } from './snapshot-store.js';

interface Page {
  notifications: Notification[];
  nextCursor: string | null;
}

/** One id or several. */
export type Ids = (string & {}) | readonly string[];

export interface NotificationListState {
  /** `loading` until the first page is in, then `success` or `error`. */
  readonly status: 'loading' | 'success' | 'error';
  /** Why the page could not be loaded (with `status` `error`). */
  readonly error: HeraldApiError | null;
  /** The loaded notifications matching the filter, newest first, kept live. */
  readonly notifications: readonly Notification[];
  /** The cursor of the next page; null on the last one. */
  readonly nextCursor: string | null;
  readonly loadingMore: boolean;
  /** The last action that failed (its optimistic change was undone). */
  readonly actionError: HeraldApiError | null;
}

export interface NotificationListOptions {
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

/** Most ids a live event may bring into the list by fetching them one by one. */
const MAX_FETCH_MISSING = 20;

const INITIAL: NotificationListState = {
  status: 'loading',
  error: null,
  notifications: [],
  nextCursor: null,
  loadingMore: false,
  actionError: null,
};

function upsert(items: readonly Notification[], n: Notification, f: NotificationFilter) {
  const rest = items.filter((x) => x.id !== n.id);
  if (!matchesFilter(n, f)) return rest.length === items.length ? items : rest;
  rest.push(n);
  return rest.sort(compareNewestFirst);
}

/**
 * The inbox as a live list with cursor paging and optimistic actions, for one filter; the
 * frameworks' hooks (`useNotifications` of @herald/react and @herald/vue) are thin bindings
 * of it.
 *
 * `start()` follows the inbox's live events (the user's channel, or the feed's with
 * `filter.channel`) and loads the first page of `GET /notifications`; events that arrive
 * while the page loads are held and applied after it, so nothing falls between the page and
 * live. Actions change the list at once, then call the server; the server's own state events
 * confirm them (from this page and every other tab and device), and a failed call undoes the
 * change and sets `actionError`. A notification that stops matching the filter leaves the
 * list. A `reset` of the inbox's channel reloads it. `stop()` ends everything (see
 * RunningStore). Without a client (rendering on a server) it stays `loading` and fetches nothing.
 */
export class NotificationList extends RunningStore<NotificationListState> {
  private readonly filter: NotificationFilter;
  private readonly limit: number;
  constructor(
    private readonly client: Herald | null,
    private readonly api: HeraldApi,
    filter: NotificationFilter = {},
    options: NotificationListOptions = {},
  ) {
    super(INITIAL);
    this.filter = { ...filter };
    this.limit = options.limit ?? 50;
  }

  protected override get runnable(): boolean {
    return this.client !== null;
  }

  protected open(): () => void {
    const client = this.client!;
    const run = this.run;
    const f = this.filter;
    const live = () => run === this.run;
    let loaded = false;
    const held: HeraldEvent[] = [];
    this.update({ ...INITIAL });

    const fetchMissing = (ids: string[]) => {
      for (const id of ids.slice(0, MAX_FETCH_MISSING)) {
        this.api
          .get<Notification>(`/notifications/${encodeURIComponent(id)}`, this.scope())
          .then((n) => {
            if (live()) this.setItems(upsert(this.state.notifications, n, f));
          })
          .catch(() => undefined);
      }
    };

    const apply = (e: HeraldEvent) => {
      const items = this.state.notifications;
      const data = (e.data ?? {}) as Record<string, unknown>;
      if (e.type === 'notification' || e.type === 'notification.updated') {
        const n = data as unknown as Notification;
        if (typeof n.id === 'string') this.setItems(upsert(items, n, f));
        return;
      }
      const ids = Array.isArray(data['ids']) ? (data['ids'] as string[]) : [];
      if (e.type === 'notification.deleted') {
        const gone = new Set(ids);
        this.setItems(items.filter((n) => !gone.has(n.id)));
        return;
      }
      const patch = patchOfEvent(e.type, data);
      if (!patch || ids.length === 0) return;
      const wanted = new Set(ids);
      const present = new Set(items.map((n) => n.id));
      this.setItems(
        items
          .map((n) => (wanted.has(n.id) ? { ...n, ...patch } : n))
          .filter((n) => matchesFilter(n, f)),
      );
      // An unread or unarchive elsewhere may bring a notification into this list.
      const missing = ids.filter((id) => !present.has(id));
      if (missing.length > 0 && (patch.read === false || patch.archived === false)) {
        fetchMissing(missing);
      }
    };

    const stop = followInbox(
      client,
      f.channel,
      (e) => (loaded ? apply(e) : held.push(e)),
      () => this.refresh(),
    );

    this.api
      .get<Page>('/notifications', { ...filterQuery(f), limit: this.limit })
      .then((page) => {
        if (!live()) return;
        this.update({
          notifications: [...page.notifications].sort(compareNewestFirst),
          nextCursor: page.nextCursor,
          status: 'success',
        });
        loaded = true;
        held.splice(0).forEach(apply);
      })
      .catch((err: HeraldApiError) => {
        if (live()) this.update({ error: err, status: 'error' });
      });
    return stop;
  }

  /** Loads the next page (no-op when there is none or one is loading). */
  async loadMore(): Promise<void> {
    const cursor = this.state.nextCursor;
    if (!cursor || this.state.loadingMore || !this.running) return;
    const run = this.run;
    this.update({ loadingMore: true });
    try {
      const page = await this.api.get<Page>('/notifications', {
        ...filterQuery(this.filter),
        limit: this.limit,
        cursor,
      });
      if (run !== this.run || cursor !== this.state.nextCursor) return; // reloaded meanwhile
      const have = new Set(this.state.notifications.map((n) => n.id));
      const more = page.notifications.filter((n) => !have.has(n.id));
      this.update({
        notifications: [...this.state.notifications, ...more].sort(compareNewestFirst),
        nextCursor: page.nextCursor,
      });
    } catch (err) {
      if (run === this.run) this.update({ actionError: err as HeraldApiError });
    } finally {
      if (run === this.run) this.update({ loadingMore: false });
    }
  }

  /** Any action on some ids, or on every notification matching the filter with `'all'`. */
  async act(action: InboxAction, target: Ids | 'all'): Promise<void> {
    const f = this.filter;
    const before = this.state.notifications;
    const ids = target === 'all' ? null : new Set(typeof target === 'string' ? [target] : target);
    const touched = (n: Notification) => !ids || ids.has(n.id);
    const patch = optimisticPatch(action, null);
    this.update({
      actionError: null,
      notifications: before
        .filter((n) => !(action === 'delete' && touched(n)))
        .map((n) => (touched(n) ? { ...n, ...patch } : n))
        .filter((n) => matchesFilter(n, f)),
    });
    try {
      if (ids && ids.size === 1) {
        const id = encodeURIComponent([...ids][0]!);
        if (action === 'delete') await this.api.delete(`/notifications/${id}`, this.scope());
        else {
          const res = await this.api.post<{ notification: Notification }>(
            `/notifications/${id}/${action}`,
            {},
            this.scope(),
          );
          this.setItems(upsert(this.state.notifications, res.notification, f));
        }
      } else if (ids) {
        await this.api.post(`/notifications/${action}`, { ids: [...ids] }, this.scope());
      } else {
        const body = filterQuery(f);
        delete body['channel'];
        delete body['userId'];
        await this.api.post(`/notifications/${action}`, body, this.scope());
      }
    } catch (err) {
      // Undo: the notifications the action touched go back to how they were.
      const keep = this.state.notifications.filter((n) => !touched(n));
      this.update({
        notifications: [...keep, ...before.filter(touched)].sort(compareNewestFirst),
        actionError: err as HeraldApiError,
      });
    }
  }

  private scope() {
    return { channel: this.filter.channel, userId: this.filter.userId };
  }

  private setItems(notifications: readonly Notification[]): void {
    if (notifications !== this.state.notifications) this.update({ notifications });
  }
}

/** The inbox hooks' actions, the same in every framework's binding. */
export interface NotificationActions {
  /** Loads the next page (no-op when there is none or one is loading). */
  loadMore(): Promise<void>;
  /** Reloads the first page. */
  refresh(): void;
  markRead(ids: Ids): Promise<void>;
  markUnread(ids: Ids): Promise<void>;
  markSeen(ids: Ids): Promise<void>;
  ack(ids: Ids): Promise<void>;
  archive(ids: Ids): Promise<void>;
  unarchive(ids: Ids): Promise<void>;
  remove(ids: Ids): Promise<void>;
  /** Every notification matching the filter (not only the loaded ones). */
  markAllRead(): Promise<void>;
  archiveAll(): Promise<void>;
  /** Any action on some ids, or on every notification matching the filter with `'all'`. */
  act(action: InboxAction, ids: Ids | 'all'): Promise<void>;
}

/** The actions on whichever list `current` returns when they are called (none: no-ops). */
export function notificationActions(current: () => NotificationList | null): NotificationActions {
  const act = async (action: InboxAction, ids: Ids | 'all') => current()?.act(action, ids);
  const one = (action: InboxAction) => (ids: Ids) => act(action, ids);
  return {
    loadMore: async () => current()?.loadMore(),
    refresh: () => current()?.refresh(),
    markRead: one('read'),
    markUnread: one('unread'),
    markSeen: one('seen'),
    ack: one('ack'),
    archive: one('archive'),
    unarchive: one('unarchive'),
    remove: one('delete'),
    markAllRead: () => act('read', 'all'),
    archiveAll: () => act('archive', 'all'),
    act,
  };
}
