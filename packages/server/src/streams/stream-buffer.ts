/**
 * The StreamBuffer holds the tokens of AI answers while they stream, so that a subscriber
 * that reconnects mid-answer gets what it missed. Tokens are ephemeral: they never reach the
 * Store; the finished answer does, as one durable `ai_complete` event.
 *
 * Contract (every backend runs `test/stream-buffer-contract.ts`):
 * - A channel holds at most one stream: its latest. `begin` refuses (false) while the latest
 *   is still `streaming`; otherwise the new stream replaces the old one and its tokens.
 * - Tokens of a stream get the indexes 0, 1, 2… in `append` order; `append` is atomic per call
 *   (all of its tokens or none) and never exceeds the bounds (`maxTokens`, `maxBytes`): a
 *   call that would is refused whole with `{ refused: 'too-long' }`.
 * - `read` returns the tokens from an index on, in order, of the latest stream (or of the
 *   stream named, if it is still the latest).
 * - A stream not `streaming` any more is dropped `graceMs` after `finish`; a `streaming`
 *   one with no `begin`/`append` for `idleMs` is dropped too (its producer is gone).
 *   Dropped means `latest` and `read` answer undefined.
 * - `cancel` marks the latest stream `cancelled` if it is streaming, and then every
 *   instance sharing the backend (every node) calls its `onCancel` listener, once; an
 *   `append` to a cancelled stream stores nothing and answers `cancelled: true`.
 */

export type StreamStatus = 'streaming' | 'complete' | 'cancelled' | 'error';

/** What a stream is now. */
export interface StreamInfo {
  readonly stream: string;
  readonly status: StreamStatus;
  /** Tokens held. */
  readonly n: number;
  /** Wire data of the stream's `ai_start` event, sent again to a subscriber that joins late. */
  readonly start: string;
}

/** A stream and its tokens from an index on. */
export interface StreamSlice extends StreamInfo {
  /** Index of `tokens[0]`. */
  readonly from: number;
  readonly tokens: readonly string[];
}

export type AppendResult =
  | { readonly first: number; readonly cancelled: false }
  | { readonly cancelled: true }
  | { readonly refused: 'too-long' | 'gone' };

export interface StreamBounds {
  /** Most tokens one stream may hold. */
  readonly maxTokens: number;
  /** Most bytes (UTF-8) of token text one stream may hold. */
  readonly maxBytes: number;
  /** How long a finished stream stays readable, ms. */
  readonly graceMs: number;
  /** How long a stream without a new token stays, ms. */
  readonly idleMs: number;
}

export interface StreamBuffer {
  start(onCancel: (channel: string, stream: string) => void): Promise<void>;
  /** Makes `stream` the latest of `channel`; false while another one is streaming. */
  begin(channel: string, stream: string, start: string): Promise<boolean>;
  append(channel: string, stream: string, tokens: readonly string[]): Promise<AppendResult>;
  /** Ends a stream (`complete`, `cancelled` or `error`); the grace period starts now. */
  finish(
    channel: string,
    stream: string,
    status: Exclude<StreamStatus, 'streaming'>,
  ): Promise<void>;
  latest(channel: string): Promise<StreamInfo | undefined>;
  /** Up to `max` tokens from index `from`; undefined when no such stream is held. */
  read(
    channel: string,
    from: number,
    max: number,
    stream?: string,
  ): Promise<StreamSlice | undefined>;
  /** Cancels the latest stream if it is streaming; resolves with its id, or undefined. */
  cancel(channel: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Bytes of token text, as the bounds count them. */
export function tokenBytes(tokens: readonly string[]): number {
  let n = 0;
  for (const t of tokens) n += Buffer.byteLength(t, 'utf8');
  return n;
}
