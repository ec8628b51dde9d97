export {
  HERALD_KEY,
  createHerald,
  provideHerald,
  useHeraldApi,
  useHeraldClient,
  useHeraldContext,
  type HeraldContext,
  type HeraldPlugin,
  type HeraldSetup,
} from './plugin.js';
export {
  HeraldApi,
  HeraldApiError,
  type GetToken,
  type HeraldApiOptions,
} from '@herald/client/inbox';
export {
  useHerald,
  type HeraldStatus,
  type Reason,
  type Transport,
  type UseHeraldResult,
} from './use-herald.js';
export {
  useChannel,
  useEvents,
  type UseChannelOptions,
  type UseEventsOptions,
  type UseEventsResult,
} from './use-channel.js';
export {
  useNotifications,
  useUnreadCount,
  type UseNotificationsOptions,
  type UseNotificationsResult,
  type UseUnreadCountOptions,
  type UseUnreadCountResult,
} from './use-notifications.js';
export {
  PRIORITIES,
  SEVERITIES,
  matchesFilter,
  type InboxAction,
  type InboxSummary,
  type Notification,
  type NotificationFilter,
  type Priority,
  type Severity,
} from '@herald/client/inbox';
