import type { Reset, StreamReplay } from '../hub/hub.js';
import type { Metrics } from '../metrics.js';
import { Frame } from '../sse/frame.js';
import type { Session } from '../sse/session.js';
import type { StoredEvent } from '../store/store.js';
import type { StreamBuffer } from './stream-buffer.js';
import {
  AI_RESPONSE,
  AI_START,
  isStreamChannel,
  markOf,
  type StreamPosition,
  tokenData,
} from './stream-channel.js';

/** Tokens read from the buffer per query while catching a session up. */
const PAGE = 1000;

/**
 * Catches a session up on the streams of its stream channels, while the hub holds its live
 * events (so the switch to live has no gap; the session's stream positions drop the tokens
 * given twice):
 * - a session that resumes mid-answer gets the tokens after its position, before that
 *   answer's `ai_complete` if the replay has it, else before going live;
 * - a session with no position in a stream under way (a late joiner, a second device) gets
 *   its `ai_start` and every token so far;
 * - a position in a stream the buffer no longer holds gets `reset` with reason
 *   `stream-gone`: the answer's text is in its `ai_complete` (replayed when the cursor is
 *   before it) and at `GET /streams/{channel}`.
 */
export class StreamCatchUp implements StreamReplay {
  constructor(
    private readonly buffer: StreamBuffer,
    private readonly metrics: Metrics,
  ) {}

  async beforeComplete(session: Session, index: number, event: StoredEvent): Promise<void> {
    const at = session.streamAt(index);
    if (at && markOf(event.type, event.data)?.stream === at.stream) {
      await this.resend(session, index, at);
    }
  }

  async catchUp(session: Session): Promise<void> {
    for (let index = 0; index < session.channels.length; index++) {
      const channel = session.channels[index] ?? '';
      if (!isStreamChannel(channel) || session.isClosed) continue;
      const at = session.streamAt(index);
      if (at) await this.resend(session, index, at);
      const latest = await this.buffer.latest(channel);
      if (latest?.status !== 'streaming' || session.streamAt(index)?.stream === latest.stream) {
        continue;
      }
      const start = new Frame(AI_START, latest.start, channel);
      start.mark = { stream: latest.stream, i: -1 };
      session.sendToken(index, start);
      await this.resend(session, index, { stream: latest.stream, n: 0 });
    }
  }

  /** Sends the tokens of `at.stream` from `at.n` on, or `reset` when the buffer lost them. */
  private async resend(session: Session, index: number, at: StreamPosition): Promise<void> {
    const channel = session.channels[index] ?? '';
    let from = at.n;
    for (;;) {
      const slice = await this.buffer.read(channel, from, PAGE, at.stream);
      if (!slice) {
        if (from === at.n) this.gone(session, index, at);
        return;
      }
      slice.tokens.forEach((token, k) => {
        const i = slice.from + k;
        const frame = new Frame(AI_RESPONSE, tokenData(slice.stream, i, token), channel);
        frame.mark = { stream: slice.stream, i };
        session.sendToken(index, frame);
      });
      from += slice.tokens.length;
      if (slice.tokens.length < PAGE || session.isClosed) return;
      if (session.needsDrain) await session.drained();
    }
  }

  private gone(session: Session, index: number, at: StreamPosition): void {
    const channel = session.channels[index] ?? '';
    session.setStream(index, undefined);
    const reset: Reset & { stream: string } = {
      reason: 'stream-gone',
      channels: [channel],
      stream: at.stream,
    };
    this.metrics.resetSent(reset.reason);
    session.writeControl('reset', reset, false);
  }
}
