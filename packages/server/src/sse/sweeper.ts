import type { Session } from './session.js';

/** Ticks per period: each tick visits this fraction of the streams. */
const SLICES = 10;

export interface SweeperOptions {
  /** The open streams (visited through a live iterator, so the set may change meanwhile). */
  readonly sessions: Set<Session>;
  /** A stream that wrote nothing for this long gets a heartbeat comment. */
  readonly heartbeatMs: number;
  /** Called after each tick with the number of heartbeats sent. */
  readonly onHeartbeats: (count: number) => void;
}

/**
 * One shared timer for every stream: token expiry and heartbeats, with no per-connection
 * timer. Every stream is visited once per period (one second, or the heartbeat if shorter),
 * but the visits are spread over ten ticks of the period: one pass over 20,000 streams that
 * heartbeats them all in the same turn is 20,000 writes, which stalls the event loop for
 * tens of milliseconds, and every publish waiting behind it shows up in the p99.
 *
 * A heartbeat goes only to a stream that stayed silent for `heartbeatMs`; a stream that
 * carries events needs none to stay open through proxies.
 */
export class Sweeper {
  private readonly timer: NodeJS.Timeout;
  private readonly periodMs: number;
  /** Visits of silence after which a stream gets a heartbeat. */
  private readonly beatAfter: number;
  private cursor: Iterator<Session> | undefined;
  /** Streams still to visit in the current period. */
  private left = 0;
  private tick = 0;

  constructor(private readonly options: SweeperOptions) {
    this.periodMs = Math.min(1000, options.heartbeatMs);
    this.beatAfter = Math.max(1, Math.round(options.heartbeatMs / this.periodMs));
    this.timer = setInterval(() => this.visitSlice(), this.periodMs / SLICES);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private visitSlice(): void {
    const { sessions } = this.options;
    if (this.tick === 0) {
      // A new period: Set iterators are live (deleted streams are skipped, added ones come
      // at the end), so one iterator serves the whole period.
      this.cursor = sessions.values();
      this.left = sessions.size;
    }
    const last = this.tick === SLICES - 1;
    this.tick = last ? 0 : this.tick + 1;
    let budget = last ? Infinity : Math.ceil(this.left / (SLICES - this.tick + 1));
    const now = Date.now();
    let beats = 0;
    while (budget-- > 0 && this.cursor) {
      const next = this.cursor.next();
      if (next.done === true) {
        this.cursor = undefined;
        break;
      }
      this.left--;
      const s = next.value;
      if (s.expiresAt !== undefined && s.expiresAt <= now) {
        s.writeControl('token-expired', { code: 'HERALD_ERR_TOKEN_EXPIRED' }, false);
        s.close('token-expired');
      } else if (s.silentVisit() >= this.beatAfter) {
        s.heartbeat();
        beats++;
      }
    }
    this.options.onHeartbeats(beats);
  }
}
