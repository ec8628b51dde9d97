import { HeraldError } from '../errors.js';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../logger.js';
import type { StreamBuffer, StreamStatus } from './stream-buffer.js';
import {
  AI_COMPLETE,
  AI_RESPONSE,
  AI_START,
  completeData,
  type EndReason,
  newStreamId,
  startData,
  tokenData,
} from './stream-channel.js';

/** What `GET /streams/{channel}` answers: the channel's latest stream. */
export interface StreamStatusBody {
  /** null with status `idle`: no answer on this channel yet (or none left in history). */
  readonly stream: string | null;
  readonly status: StreamStatus | 'idle';
  readonly text: string;
  readonly n: number;
}

const STATUS_OF: Record<EndReason, Exclude<StreamStatus, 'streaming'>> = {
  done: 'complete',
  cancelled: 'cancelled',
  error: 'error',
};

/** Stored events looked at, newest last, for a stream's `ai_complete` once its buffer is gone. */
const HISTORY_LOOKBACK = 50;

/**
 * The producer side of stream channels: opens a stream, publishes its tokens (buffered, then
 * live through the broker), ends it with one durable `ai_complete`, and tells a local
 * producer when its stream was cancelled on any node (through the buffer's backend).
 */
export class StreamService {
  /** Streams produced on this node, by channel (a channel has one stream at a time). */
  private readonly producers = new Map<string, StreamProducer>();
  /** Tokens published on this node (metrics). */
  tokens = 0;

  constructor(
    readonly buffer: StreamBuffer,
    readonly hub: Pick<Hub, 'publish' | 'store'>,
    readonly log: Logger,
    private readonly maxTokens: number,
  ) {}

  start(): Promise<void> {
    return this.buffer.start((channel, stream) => {
      const p = this.producers.get(channel);
      if (p?.stream === stream) p.cancelled();
    });
  }

  /** Streams produced on this node now (metrics). */
  get active(): number {
    return this.producers.size;
  }

  /** Opens a stream on `channel` and publishes its `ai_start`; 409 while one is streaming. */
  async open(channel: string, meta: unknown): Promise<StreamProducer> {
    const stream = newStreamId();
    const start = startData(stream, meta);
    if (!(await this.buffer.begin(channel, stream, start))) {
      throw new HeraldError('HERALD_ERR_STREAM_ACTIVE');
    }
    const producer = new StreamProducer(this, channel, stream);
    this.producers.set(channel, producer);
    try {
      await this.hub.publish([{ channel, type: AI_START, data: start, durable: false }]);
    } catch (err) {
      await producer.end('error');
      throw err;
    }
    return producer;
  }

  /** @internal The producer of `channel` is done. */
  forget(producer: StreamProducer): void {
    if (this.producers.get(producer.channel) === producer) this.producers.delete(producer.channel);
  }

  /** Cancels the stream under way on `channel`; its id, or undefined when none streams. */
  cancel(channel: string): Promise<string | undefined> {
    return this.buffer.cancel(channel);
  }

  /** The latest stream of `channel`: from the buffer, else from its stored `ai_complete`. */
  async status(channel: string): Promise<StreamStatusBody> {
    const slice = await this.buffer.read(channel, 0, this.maxTokens);
    if (slice) {
      const { stream, status, n } = slice;
      return { stream, status, n, text: slice.tokens.join('') };
    }
    const [head] = await this.hub.store.ensureChannels([channel]);
    const after = Math.max(head?.trimmedSeq ?? 0, (head?.seq ?? 0) - HISTORY_LOOKBACK);
    const rows = await this.hub.store.readAfter(channel, after, HISTORY_LOOKBACK);
    for (let k = rows.length - 1; k >= 0; k--) {
      const row = rows[k];
      if (row?.type !== AI_COMPLETE) continue;
      const d = JSON.parse(row.data) as Partial<{ stream: string; text: string; n: number }> & {
        reason?: EndReason;
      };
      return {
        stream: d.stream ?? '',
        status: STATUS_OF[d.reason ?? 'done'] ?? 'complete',
        text: d.text ?? '',
        n: d.n ?? 0,
      };
    }
    // No answer yet is a normal state for a page that opens a channel, not an error: a 404
    // would show in every browser console before the first question.
    return { stream: null, status: 'idle', text: '', n: 0 };
  }
}

/**
 * One stream being produced on this node. Writes and the end run one after the other (a
 * cancel may end the stream while a write is under way), so the `ai_complete` always
 * follows every token and its text is every token.
 */
export class StreamProducer {
  private readonly parts: string[] = [];
  private turn: Promise<unknown> = Promise.resolve();
  private endedWith: EndReason | undefined;
  /** Called once when the stream is cancelled (from any node). */
  onCancel: (() => void) | undefined;

  constructor(
    private readonly service: StreamService,
    readonly channel: string,
    readonly stream: string,
  ) {}

  get n(): number {
    return this.parts.length;
  }

  /** How the stream ended, once it has. */
  get reason(): EndReason | undefined {
    return this.endedWith;
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.turn.then(work);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * Buffers and publishes `tokens`. Resolves false when the stream is over (cancelled or
   * ended); rejects with HERALD_ERR_STREAM_TOO_LONG past the bounds (the stream then ends
   * with reason error).
   */
  write(tokens: readonly string[]): Promise<boolean> {
    return this.inTurn(async () => {
      if (this.endedWith || tokens.length === 0) return !this.endedWith;
      const { buffer, hub } = this.service;
      const r = await buffer.append(this.channel, this.stream, tokens);
      if ('refused' in r) {
        await this.finish('error');
        if (r.refused === 'too-long') throw new HeraldError('HERALD_ERR_STREAM_TOO_LONG');
        return false;
      }
      if (r.cancelled) {
        // The cancel's message may not have reached this node (pub/sub is at most once).
        await this.finish('cancelled');
        this.notifyCancel();
        return false;
      }
      for (const t of tokens) this.parts.push(t);
      this.service.tokens += tokens.length;
      await hub.publish(
        tokens.map((token, k) => ({
          channel: this.channel,
          type: AI_RESPONSE,
          data: tokenData(this.stream, r.first + k, token),
          durable: false,
        })),
      );
      return true;
    });
  }

  /** Ends the stream (once): buffer status, then the durable `ai_complete`. */
  end(reason: EndReason): Promise<void> {
    return this.inTurn(() => this.finish(reason));
  }

  /** The stream was cancelled: it ends now, and the producer is told. */
  cancelled(): void {
    void this.end('cancelled').catch((err: unknown) =>
      this.service.log.warn({ err }, 'stream end after cancel failed'),
    );
    this.notifyCancel();
  }

  private notifyCancel(): void {
    const notify = this.onCancel;
    this.onCancel = undefined;
    notify?.();
  }

  private async finish(reason: EndReason): Promise<void> {
    if (this.endedWith) return;
    this.endedWith = reason;
    this.service.forget(this);
    const { buffer, hub } = this.service;
    await buffer.finish(this.channel, this.stream, STATUS_OF[reason]);
    const text = this.parts.join('');
    await hub.publish([
      {
        channel: this.channel,
        type: AI_COMPLETE,
        data: completeData(this.stream, text, this.parts.length, reason),
        durable: true,
      },
    ]);
  }
}
