export {
  HeraldPublisher,
  type PublisherOptions,
  type PublishEvent,
  type PublishResult,
  type NotificationBody,
  type WriteOptions,
} from './publisher.js';
export * from './index.js';
