import {
  NotificationList,
  UnreadCount,
  filterQuery,
  notificationActions,
  type HeraldApiError,
  type InboxSummary,
  type NotificationActions,
  type Notification,
  type NotificationFilter,
  type NotificationListState,
  type UnreadCountState,
} from '@herald/client/inbox';
import {
  computed,
  shallowRef,
  toValue,
  watch,
  type ComputedRef,
  type MaybeRefOrGetter,
  type Ref,
} from 'vue';
import { useHeraldApi, useHeraldClient } from './plugin.js';

export interface UseNotificationsResult extends NotificationActions {
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
}

export interface UseNotificationsOptions {
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

/**
 * The inbox: a live list with cursor paging and optimistic actions (`NotificationList` of
 * `@herald/client/inbox`, bound to refs). `filter` is a plain object, a ref or a getter: a
 * change of it starts a new list for the new filter. Everything stops when the calling scope
 * is disposed.
 */
export function useNotifications(
  filter: MaybeRefOrGetter<NotificationFilter> = {},
  options: UseNotificationsOptions = {},
): UseNotificationsResult {
  const client = useHeraldClient();
  const api = useHeraldApi();
  const state = shallowRef<NotificationListState>(new NotificationList(null, api).state);
  let list: NotificationList | null = null;

  // No client: rendering on a server. The list stays `loading` and nothing is fetched there.
  if (client)
    watch(
      () => JSON.stringify(filterQuery(toValue(filter))),
      (_key, _old, onCleanup) => {
        const current = new NotificationList(client, api, toValue(filter), options);
        list = current;
        const off = current.subscribe(() => (state.value = current.state));
        current.start();
        state.value = current.state;
        onCleanup(() => {
          off();
          current.stop();
        });
      },
      { immediate: true },
    );

  return {
    status: computed(() => state.value.status),
    error: computed(() => state.value.error),
    notifications: computed(() => state.value.notifications),
    hasMore: computed(() => state.value.nextCursor !== null),
    loadingMore: computed(() => state.value.loadingMore),
    actionError: computed(() => state.value.actionError),
    ...notificationActions(() => list),
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
 * `channel` (`UnreadCount` of `@herald/client/inbox`, bound to refs): exact, from the
 * server's summaries, never counted locally.
 */
export function useUnreadCount(options: UseUnreadCountOptions = {}): UseUnreadCountResult {
  const client = useHeraldClient();
  const api = useHeraldApi();
  const state = shallowRef<UnreadCountState>(new UnreadCount(null, api).state);
  let count: UnreadCount | null = null;

  // No client: rendering on a server, where nothing is fetched.
  if (client)
    watch(
      () => toValue(options.channel),
      (channel, _old, onCleanup) => {
        const current = new UnreadCount(client, api, channel);
        count = current;
        const off = current.subscribe(() => (state.value = current.state));
        current.start();
        onCleanup(() => {
          off();
          current.stop();
        });
      },
      { immediate: true },
    );

  return {
    status: computed(() => state.value.status),
    summary: computed(() => state.value.summary),
    error: computed(() => state.value.error),
    unread: computed(() => state.value.summary?.unread ?? 0),
    unseen: computed(() => state.value.summary?.unseen ?? 0),
    refresh: () => count?.refresh(),
  };
}
