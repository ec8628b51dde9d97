import {
  type AppendResult,
  type StreamBounds,
  type StreamBuffer,
  type StreamInfo,
  type StreamSlice,
  type StreamStatus,
  tokenBytes,
} from './stream-buffer.js';

interface Held {
  readonly stream: string;
  readonly start: string;
  status: StreamStatus;
  readonly tokens: string[];
  bytes: number;
  /** When the stream is dropped, ms since the epoch (idle or grace deadline). */
  until: number;
}

/**
 * The embedded stream buffer: one process, streams in a Map. Expired streams are dropped
 * by one shared sweep a second (and ignored by reads once past their deadline), so a stream
 * costs no timer of its own.
 */
export class MemoryStreamBuffer implements StreamBuffer {
  private readonly streams = new Map<string, Held>();
  private onCancel: (channel: string, stream: string) => void = () => undefined;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly bounds: StreamBounds,
    private readonly now: () => number = Date.now,
  ) {}

  async start(onCancel: (channel: string, stream: string) => void): Promise<void> {
    this.onCancel = onCancel;
    this.sweep = setInterval(() => {
      const now = this.now();
      for (const [channel, held] of this.streams)
        if (held.until <= now) this.streams.delete(channel);
    }, 1000);
    this.sweep.unref();
  }

  /** The live record of `channel`, undefined once past its deadline. */
  private held(channel: string): Held | undefined {
    const held = this.streams.get(channel);
    if (held && held.until <= this.now()) {
      this.streams.delete(channel);
      return undefined;
    }
    return held;
  }

  async begin(channel: string, stream: string, start: string): Promise<boolean> {
    if (this.held(channel)?.status === 'streaming') return false;
    this.streams.set(channel, {
      stream,
      start,
      status: 'streaming',
      tokens: [],
      bytes: 0,
      until: this.now() + this.bounds.idleMs,
    });
    return true;
  }

  async append(channel: string, stream: string, tokens: readonly string[]): Promise<AppendResult> {
    const held = this.held(channel);
    if (!held || held.stream !== stream) return { refused: 'gone' };
    if (held.status === 'cancelled') return { cancelled: true };
    if (held.status !== 'streaming') return { refused: 'gone' };
    const bytes = tokenBytes(tokens);
    if (
      held.tokens.length + tokens.length > this.bounds.maxTokens ||
      held.bytes + bytes > this.bounds.maxBytes
    ) {
      return { refused: 'too-long' };
    }
    const first = held.tokens.length;
    for (const t of tokens) held.tokens.push(t);
    held.bytes += bytes;
    held.until = this.now() + this.bounds.idleMs;
    return { first, cancelled: false };
  }

  async finish(
    channel: string,
    stream: string,
    status: Exclude<StreamStatus, 'streaming'>,
  ): Promise<void> {
    const held = this.held(channel);
    if (!held || held.stream !== stream) return;
    held.status = status;
    held.until = this.now() + this.bounds.graceMs;
  }

  async latest(channel: string): Promise<StreamInfo | undefined> {
    const held = this.held(channel);
    return held && info(held);
  }

  async read(
    channel: string,
    from: number,
    max: number,
    stream?: string,
  ): Promise<StreamSlice | undefined> {
    const held = this.held(channel);
    if (!held || (stream !== undefined && held.stream !== stream)) return undefined;
    return Object.assign(info(held), { from, tokens: held.tokens.slice(from, from + max) });
  }

  async cancel(channel: string): Promise<string | undefined> {
    const held = this.held(channel);
    if (held?.status !== 'streaming') return undefined;
    held.status = 'cancelled';
    const stream = held.stream;
    queueMicrotask(() => this.onCancel(channel, stream));
    return stream;
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    this.streams.clear();
  }
}

function info(held: Held): StreamInfo {
  return { stream: held.stream, status: held.status, n: held.tokens.length, start: held.start };
}
