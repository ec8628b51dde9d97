import type { HeraldEvent } from '@herald/client';
import {
  computed,
  ref,
  shallowRef,
  toValue,
  watch,
  type ComputedRef,
  type MaybeRefOrGetter,
  type Ref,
} from 'vue';
import type { HeraldApiError } from './api.js';
import { followInbox } from './inbox-source.js';
import {
  compareNewestFirst,
  filterQuery,
  matchesFilter,
  optimisticPatch,
  patchOfEvent,
  type InboxAction,
  type InboxSummary,
  type Notification,
  type NotificationFilter,
} from './notification.js';
import { useHeraldApi, useHeraldClient } from './plugin.js';

interface Page {
  notifications: Notification[];
  nextCursor: string | null;
}

type Ids = (string & {}) | readonly string[];

export interface UseNotificationsResult {
  /** `loading` until the first page of the current filter is in, then `success` or `error`. */
  readonly status: Readonly<Ref<'loading' | 'success' | 'error'>>;
  /** Why the page could not be loaded (with `status` `error`). */
  readonly error: Readonly<Ref<HeraldApiError | null>>;
  /** The loaded notifications matching the filter, newest first, kept live. */
  readonly notifications: Readonly<Ref<readonly Notification[]>>;
  readonly hasMore: ComputedRef<boolean>;
  readonly loadingMore: Readonly<Ref<boolean>>;
  /** The last action that failed (its optimistic change was undone). */
  readonly actionError: Readonly<Ref<HeraldApiError | null>>;
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

export interface UseNotificationsOptions {
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

/** Most ids a live event may bring into the list by fetching them one by one. */
const MAX_FETCH_MISSING = 20;

function upsert(items: readonly Notification[], n: Notification, f: NotificationFilter) {
  const rest = items.filter((x) => x.id !== n.id);
  if (!matchesFilter(n, f)) return rest.length === items.length ? items : rest;
  rest.push(n);
  return rest.sort(compareNewestFirst);
}

/**
 * The inbox: a live list with cursor paging and optimistic actions.
 *
 * Loads the first page of `GET /notifications` with `filter` (a plain object, a ref or a
 * getter: a change of it reloads) and keeps it in step with the inbox's live events (new
 * notifications, state changes, deletions) on the user's channel (or the feed's, with
 * `filter.channel`). Live events that arrive while a page loads are held and applied after it.
 * Actions change the list at once, then call the server; the server's own state events
 * confirm them (from this page and every other tab and device), and a failed call undoes the
 * change and sets `actionError`. A notification that stops matching the filter (read in an
 * unread-only list, archived in the inbox) leaves the list. A `reset` of the inbox's channel
 * reloads it. Everything stops when the calling scope is disposed.
 */
export function useNotifications(
  filter: MaybeRefOrGetter<NotificationFilter> = {},
  options: UseNotificationsOptions = {},
): UseNotificationsResult {
  const client = useHeraldClient();
  const api = useHeraldApi();
  const limit = options.limit ?? 50;
  const status = ref<'loading' | 'success' | 'error'>('loading');
  const error = shallowRef<HeraldApiError | null>(null);
  const items = shallowRef<readonly Notification[]>([]);
  const nextCursor = ref<string | null>(null);
  const loadingMore = ref(false);
  const actionError = shallowRef<HeraldApiError | null>(null);
  const generation = ref(0);
  const current = () => toValue(filter);
  const scope = () => ({ channel: current().channel, userId: current().userId });

  // No client: rendering on a server. The list stays `loading` and nothing is fetched there.
  if (client)
    watch(
      () => [JSON.stringify(filterQuery(toValue(filter))), generation.value] as const,
      (_key, _old, onCleanup) => {
        let cancelled = false;
        let loaded = false;
        const held: HeraldEvent[] = [];
        const f = { ...current() };
        status.value = 'loading';
        error.value = null;
        items.value = [];
        nextCursor.value = null;

        const fetchMissing = (ids: string[]) => {
          for (const id of ids.slice(0, MAX_FETCH_MISSING)) {
            api
              .get<Notification>(`/notifications/${encodeURIComponent(id)}`, {
                channel: f.channel,
                userId: f.userId,
              })
              .then((n) => {
                if (!cancelled) items.value = upsert(items.value, n, f);
              })
              .catch(() => undefined);
          }
        };

        const apply = (e: HeraldEvent) => {
          const data = (e.data ?? {}) as Record<string, unknown>;
          if (e.type === 'notification' || e.type === 'notification.updated') {
            const n = data as unknown as Notification;
            if (typeof n.id === 'string') items.value = upsert(items.value, n, f);
            return;
          }
          const ids = Array.isArray(data['ids']) ? (data['ids'] as string[]) : [];
          if (e.type === 'notification.deleted') {
            const gone = new Set(ids);
            items.value = items.value.filter((n) => !gone.has(n.id));
            return;
          }
          const patch = patchOfEvent(e.type, data);
          if (!patch || ids.length === 0) return;
          const wanted = new Set(ids);
          const present = new Set(items.value.map((n) => n.id));
          items.value = items.value
            .map((n) => (wanted.has(n.id) ? { ...n, ...patch } : n))
            .filter((n) => matchesFilter(n, f));
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
          () => generation.value++,
        );

        api
          .get<Page>('/notifications', { ...filterQuery(f), limit })
          .then((page) => {
            if (cancelled) return;
            items.value = [...page.notifications].sort(compareNewestFirst);
            nextCursor.value = page.nextCursor;
            status.value = 'success';
            loaded = true;
            held.splice(0).forEach(apply);
          })
          .catch((err: HeraldApiError) => {
            if (cancelled) return;
            error.value = err;
            status.value = 'error';
          });

        onCleanup(() => {
          cancelled = true;
          stop();
        });
      },
      { immediate: true },
    );

  async function loadMore(): Promise<void> {
    const cursor = nextCursor.value;
    if (!cursor || loadingMore.value) return;
    loadingMore.value = true;
    const gen = generation.value;
    try {
      const page = await api.get<Page>('/notifications', {
        ...filterQuery(current()),
        limit,
        cursor,
      });
      if (gen !== generation.value || cursor !== nextCursor.value) return; // reloaded meanwhile
      const have = new Set(items.value.map((n) => n.id));
      const more = page.notifications.filter((n) => !have.has(n.id));
      items.value = [...items.value, ...more].sort(compareNewestFirst);
      nextCursor.value = page.nextCursor;
    } catch (err) {
      actionError.value = err as HeraldApiError;
    } finally {
      loadingMore.value = false;
    }
  }

  async function act(action: InboxAction, target: Ids | 'all'): Promise<void> {
    const f = current();
    const before = items.value;
    const ids = target === 'all' ? null : new Set(typeof target === 'string' ? [target] : target);
    const touched = (n: Notification) => !ids || ids.has(n.id);
    const patch = optimisticPatch(action, null);
    actionError.value = null;
    items.value = items.value
      .filter((n) => !(action === 'delete' && touched(n)))
      .map((n) => (touched(n) ? { ...n, ...patch } : n))
      .filter((n) => matchesFilter(n, f));
    try {
      if (ids && ids.size === 1) {
        const id = encodeURIComponent([...ids][0]!);
        if (action === 'delete') await api.delete(`/notifications/${id}`, scope());
        else {
          const res = await api.post<{ notification: Notification }>(
            `/notifications/${id}/${action}`,
            {},
            scope(),
          );
          items.value = upsert(items.value, res.notification, f);
        }
      } else if (ids) {
        await api.post(`/notifications/${action}`, { ids: [...ids] }, scope());
      } else {
        const body = filterQuery(f);
        delete body['channel'];
        delete body['userId'];
        await api.post(`/notifications/${action}`, body, scope());
      }
    } catch (err) {
      // Undo: the notifications the action touched go back to how they were.
      const keep = items.value.filter((n) => !touched(n));
      items.value = [...keep, ...before.filter(touched)].sort(compareNewestFirst);
      actionError.value = err as HeraldApiError;
    }
  }

  const one = (action: InboxAction) => (ids: Ids) => act(action, ids);

  return {
    status,
    error,
    notifications: items,
    hasMore: computed(() => nextCursor.value !== null),
    loadingMore,
    actionError,
    loadMore,
    refresh: () => generation.value++,
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

export interface UseUnreadCountOptions {
  /** A feed's summary instead of the user's own inbox; may be a ref. */
  channel?: MaybeRefOrGetter<string | undefined>;
}

export interface UseUnreadCountResult {
  readonly status: Readonly<Ref<'loading' | 'success' | 'error'>>;
  readonly unread: ComputedRef<number>;
  readonly unseen: ComputedRef<number>;
  readonly summary: Readonly<Ref<InboxSummary | null>>;
  readonly error: Readonly<Ref<HeraldApiError | null>>;
  refresh(): void;
}

/**
 * The unread count (and the whole summary) of the user's inbox, or of a feed with
 * `channel`: `GET /notifications/summary`, then every live `summary` event. Notifications to
 * everyone publish no per-user summary, so one of those arriving refetches it (once for a
 * burst). The server's summary is exact; nothing is counted locally, so it cannot drift.
 */
export function useUnreadCount(options: UseUnreadCountOptions = {}): UseUnreadCountResult {
  const client = useHeraldClient();
  const api = useHeraldApi();
  const status = ref<'loading' | 'success' | 'error'>('loading');
  const summary = shallowRef<InboxSummary | null>(null);
  const error = shallowRef<HeraldApiError | null>(null);
  const generation = ref(0);

  // No client: rendering on a server, where nothing is fetched.
  if (client)
    watch(
      () => [toValue(options.channel), generation.value] as const,
      ([channel], _old, onCleanup) => {
        let cancelled = false;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let version = 0;
        const load = () => {
          const mine = ++version;
          api
            .get<InboxSummary>('/notifications/summary', { channel })
            .then((s) => {
              if (cancelled || mine !== version) return;
              summary.value = s;
              error.value = null;
              status.value = 'success';
            })
            .catch((err: HeraldApiError) => {
              if (cancelled) return;
              error.value = err;
              status.value = 'error';
            });
        };
        const later = () => {
          clearTimeout(timer);
          timer = setTimeout(load, 150);
        };
        const stop = followInbox(
          client,
          channel,
          (e) => {
            if (e.type === 'summary' && e.channel !== 'broadcast') {
              version++; // a fetch still under way is older than this event
              summary.value = e.data as InboxSummary;
              error.value = null;
              status.value = 'success';
            } else if (e.channel === 'broadcast' && e.type.startsWith('notification')) later();
          },
          load,
        );
        load();
        onCleanup(() => {
          cancelled = true;
          clearTimeout(timer);
          stop();
        });
      },
      { immediate: true },
    );

  return {
    status,
    summary,
    error,
    unread: computed(() => summary.value?.unread ?? 0),
    unseen: computed(() => summary.value?.unseen ?? 0),
    refresh: () => generation.value++,
  };
}
