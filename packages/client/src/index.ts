export {
  Herald,
  type HeraldOptions,
  type HeraldEvent,
  type TypedEvent,
  type EventMap,
  type ConnectionState,
  type TransportKind,
  type StateChange,
  type Reason,
  type ResetInfo,
} from './herald.js';
export { HeraldClientError, type ClientErrorCode } from './errors.js';
export { SseParser, type SseEvent, type SseParserOptions } from './sse-parser.js';
export type { Observable, Observer, Subscription } from './observable.js';
