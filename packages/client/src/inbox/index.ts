/**
 * `@herald/client/inbox`: what the framework bindings (@herald/react, @herald/vue) share —
 * the HTTP API with the app's credential, the inbox's model and filters, and the live
 * stores (a notification list, the unread count, the alert stream) they bind to their own
 * reactivity. Kept out of the main entry, so the connection's bundle stays small.
 */
export {
  HeraldApi,
  HeraldApiError,
  queryString,
  type GetToken,
  type HeraldApiOptions,
  type Query,
} from './api.js';
export {
  PRIORITIES,
  SEVERITIES,
  compareNewestFirst,
  filterQuery,
  matchesFilter,
  optimisticPatch,
  patchOfEvent,
  type InboxAction,
  type InboxSummary,
  type Notification,
  type NotificationFilter,
  type Priority,
  type Severity,
} from './notification.js';
export { followInbox } from './inbox-source.js';
export { RunningStore, SnapshotStore } from './snapshot-store.js';
export {
  NotificationList,
  notificationActions,
  type Ids,
  type NotificationActions,
  type NotificationListOptions,
  type NotificationListState,
} from './notification-list.js';
export { UnreadCount, type UnreadCountState } from './unread-count.js';
export {
  AlertStream,
  type Alert,
  type AlertStreamOptions,
  type AlertStreamState,
} from './alert-stream.js';
