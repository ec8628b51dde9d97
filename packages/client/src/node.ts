export {
  HeraldPublisher,
  type PublisherOptions,
  type PublishEvent,
  type PublishResult,
  type NotificationBody,
} from './publisher.js';
export * from './index.js';
