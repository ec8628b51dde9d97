export {
  HeraldProvider,
  useHeraldApi,
  useHeraldClient,
  useHeraldContext,
  type HeraldContextValue,
  type HeraldProviderProps,
} from './provider.js';
export { useHerald, type HeraldStatus, type Reason, type Transport } from './use-herald.js';
export {
  useChannel,
  useChannels,
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
  useAlertStream,
  type UseAlertStreamOptions,
  type UseAlertStreamResult,
} from './use-alert-stream.js';
export {
  useStreamingText,
  type StreamingStatus,
  type StreamingTextState,
  type UseStreamingTextResult,
} from './use-streaming-text.js';
export {
  useAISSE,
  useChatSSE,
  useSSE,
  useVoteSSE,
  type AIData,
  type SseResult,
  type UseSSEOptions,
} from './use-sse.js';
export {
  HeraldApi,
  HeraldApiError,
  PRIORITIES,
  SEVERITIES,
  matchesFilter,
  type Alert,
  type GetToken,
  type HeraldApiOptions,
  type Ids,
  type InboxAction,
  type InboxSummary,
  type Notification,
  type NotificationFilter,
  type Priority,
  type Severity,
} from '@herald/client/inbox';
export type { Herald, HeraldEvent } from '@herald/client';
