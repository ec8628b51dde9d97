export {
  HeraldPublisher,
  type PublisherOptions,
  type PublishEvent,
  type PublishResult,
  type NotificationBody,
  type WriteOptions,
} from './publisher.js';
export { StreamWriter, type StreamResult, type StreamWriterOptions } from './stream-writer.js';
export * from './index.js';
