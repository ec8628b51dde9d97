import type { BrokerEvent } from '../broker/broker.js';
import { encodeEvent } from '../sse/encode.js';
import { Frame } from '../sse/frame.js';
import { Session } from '../sse/session.js';

/** An inbox event as the alert stream shows it (its own event names), or null: not shown. */
interface AlertFrame {
  readonly frame: Frame;
  /** The notification id of a `new_event`, to skip one already sent in `historical`. */
  readonly id: string | undefined;
}

/**
 * The alert stream's names: `notification` is `new_event`, `notification.acked` is `ack_event`,
 * `summary` stays. A collapsed notification (`notification.updated`) is a `new_event` too:
 * clients insert or replace by id. Other inbox events are not part of this stream.
 */
const RENAME: Readonly<Record<string, string>> = {
  notification: 'new_event',
  'notification.updated': 'new_event',
  'notification.acked': 'ack_event',
  summary: 'summary',
};

/**
 * Translated frames, once per event for every alert stream on this node: the hub hands the
 * same event object to each subscriber, so the first stream pays for the translation and
 * the others write the same bytes.
 */
const translated = new WeakMap<BrokerEvent, AlertFrame | null>();

function alertFrameOf(event: BrokerEvent): AlertFrame | null {
  let out = translated.get(event);
  if (out !== undefined) return out;
  const type = RENAME[event.type];
  out = null;
  if (type !== undefined) {
    let id: string | undefined;
    if (event.type === 'notification') {
      try {
        const parsed = JSON.parse(event.data) as { id?: unknown };
        if (typeof parsed.id === 'string') id = parsed.id;
      } catch {
        // not an inbox notification: shown, never skipped
      }
    }
    out = { frame: new Frame(type, event.data), id };
  }
  translated.set(event, out);
  return out;
}

/**
 * One alert stream: an ordinary Session on the owner's channel whose live events are
 * shown under the alert stream's names (docs/inbox.md). The hub holds live events while the snapshot
 * (`summary`, `historical`) is written, then flushes them through `deliver`, so a
 * notification sent during the snapshot is either in `historical` or a `new_event`, never
 * lost and never both.
 */
export class AlertSession extends Session {
  /** Ids sent in `historical`. */
  readonly historical = new Set<string>();

  /** The hub's frame is replaced by the renamed one (built once per event, see above). */
  protected override liveFrame(event: BrokerEvent, _frame: Frame): Frame | undefined {
    const alert = alertFrameOf(event);
    if (!alert) return undefined;
    if (alert.id !== undefined && this.historical.has(alert.id)) return undefined;
    return alert.frame;
  }
}

/**
 * The alert streams of this node and their `ping`: ONE timer for all of them, one buffer
 * per tick written to each (no timer and no serialization per connection).
 */
export class AlertStreams {
  private readonly sessions = new Set<AlertSession>();
  private readonly timer: NodeJS.Timeout;

  constructor(pingMs: number) {
    this.timer = setInterval(() => this.ping(), pingMs);
    this.timer.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  add(session: AlertSession): void {
    this.sessions.add(session);
  }

  remove(session: AlertSession): void {
    this.sessions.delete(session);
  }

  private ping(): void {
    if (this.sessions.size === 0) return;
    const frame = Buffer.from(
      encodeEvent({ event: 'ping', data: JSON.stringify({ time: new Date().toISOString() }) }),
    );
    for (const s of this.sessions) if (s.isOpen && !s.isClosed) s.write(frame);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
