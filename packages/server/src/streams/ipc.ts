import type { PrimaryLink } from '../workers/primary-link.js';
import type {
  AppendResult,
  StreamBuffer,
  StreamInfo,
  StreamSlice,
  StreamStatus,
} from './stream-buffer.js';

/**
 * The stream buffer of one worker of `herald serve --workers N`: the tokens live in the
 * primary process (one `MemoryStreamBuffer` for every worker), so an answer produced on one
 * worker can be read and resumed from any other, and a cancel on any worker reaches the
 * producer wherever it runs (the primary sends the notice to every worker).
 */
export class IpcStreamBuffer implements StreamBuffer {
  private listening = false;
  private onCancel: ((channel: string, stream: string) => void) | undefined;

  constructor(private readonly primary: PrimaryLink) {}

  async start(onCancel: (channel: string, stream: string) => void): Promise<void> {
    this.onCancel = onCancel;
    if (this.listening) return;
    this.listening = true;
    this.primary.onCancel((channel, stream) => this.onCancel?.(channel, stream));
  }

  async begin(channel: string, stream: string, start: string): Promise<boolean> {
    return (await this.primary.call('streams.begin', channel, stream, start)) === true;
  }

  async append(channel: string, stream: string, tokens: readonly string[]): Promise<AppendResult> {
    return (await this.primary.call('streams.append', channel, stream, tokens)) as AppendResult;
  }

  async finish(
    channel: string,
    stream: string,
    status: Exclude<StreamStatus, 'streaming'>,
  ): Promise<void> {
    await this.primary.call('streams.finish', channel, stream, status);
  }

  async latest(channel: string): Promise<StreamInfo | undefined> {
    return ((await this.primary.call('streams.latest', channel)) ?? undefined) as
      StreamInfo | undefined;
  }

  async read(
    channel: string,
    from: number,
    max: number,
    stream?: string,
  ): Promise<StreamSlice | undefined> {
    return ((await this.primary.call('streams.read', channel, from, max, stream ?? null)) ??
      undefined) as StreamSlice | undefined;
  }

  async cancel(channel: string): Promise<string | undefined> {
    return ((await this.primary.call('streams.cancel', channel)) ?? undefined) as
      string | undefined;
  }

  async close(): Promise<void> {
    this.onCancel = undefined;
  }
}
