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
} from '@herald/client/inbox';
import { useMemo } from 'react';
import { useHeraldContext } from './provider.js';
import { useLiveStore } from './use-live-store.js';

export interface UseNotificationsOptions {
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

export interface UseNotificationsResult extends NotificationActions {
  /** `loading` until the first page of the current filter is in, then `success` or `error`. */
  readonly status: 'loading' | 'success' | 'error';
  /** Why the page could not be loaded (with `status` `error`). */
  readonly error: HeraldApiError | null;
  /** The loaded notifications matching the filter, newest first, kept live. */
  readonly notifications: readonly Notification[];
  readonly hasMore: boolean;
  readonly loadingMore: boolean;
  /** The last action that failed (its optimistic change was undone). */
  readonly actionError: HeraldApiError | null;
}

/**
 * The inbox: a live list with cursor paging and optimistic actions (`NotificationList` of
 * `@herald/client/inbox`). Loads the first page of `GET /notifications` with `filter` and
 * keeps it in step with the inbox's live events; actions change the list at once and the
 * server's state events (from every tab and device) reconcile it; a failed action is undone
 * and sets `actionError`. The filter is compared by value: a new object with the same
 * fields does not reload, a changed one does. The action functions are stable for a filter.
 */
export function useNotifications(
  filter: NotificationFilter = {},
  options: UseNotificationsOptions = {},
): UseNotificationsResult {
  const { client, api } = useHeraldContext();
  const limit = options.limit;
  const key = JSON.stringify(filterQuery(filter));
  const list = useMemo(
    () =>
      new NotificationList(client, api, JSON.parse(key) as NotificationFilter, {
        ...(limit ? { limit } : {}),
      }),
    [client, api, key, limit],
  );
  const state = useLiveStore(list);
  const actions = useMemo(() => notificationActions(() => list), [list]);
  return {
    status: state.status,
    error: state.error,
    notifications: state.notifications,
    hasMore: state.nextCursor !== null,
    loadingMore: state.loadingMore,
    actionError: state.actionError,
    ...actions,
  };
}

export interface UseUnreadCountOptions {
  /** A feed's summary instead of the user's own inbox. */
  channel?: string;
}

export interface UseUnreadCountResult {
  readonly status: 'loading' | 'success' | 'error';
  /** Unread notifications (0 until the summary is in). */
  readonly count: number;
  readonly unread: number;
  readonly unseen: number;
  /** The whole summary: unread by category, unacked by severity. */
  readonly summary: InboxSummary | null;
  readonly error: HeraldApiError | null;
  refresh(): void;
}

/**
 * The unread count (and the whole summary) of the user's inbox, or of a feed with
 * `channel`: `GET /notifications/summary`, then every live `summary` event. Exact, from the
 * server; nothing is counted locally, so it cannot drift.
 */
export function useUnreadCount(options: UseUnreadCountOptions = {}): UseUnreadCountResult {
  const { client, api } = useHeraldContext();
  const channel = options.channel;
  const store = useMemo(() => new UnreadCount(client, api, channel), [client, api, channel]);
  const state = useLiveStore(store);
  const refresh = useMemo(() => () => store.refresh(), [store]);
  const unread = state.summary?.unread ?? 0;
  return {
    status: state.status,
    count: unread,
    unread,
    unseen: state.summary?.unseen ?? 0,
    summary: state.summary,
    error: state.error,
    refresh,
  };
}
