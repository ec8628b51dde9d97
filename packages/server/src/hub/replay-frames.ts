import { Frame } from '../sse/frame.js';
import type { StoredEvent } from '../store/store.js';

interface Entry {
  readonly type: string;
  readonly data: string;
  readonly frame: Frame;
  readonly bytes: number;
}

/**
 * Frames of recently replayed stored events. In a reconnect storm on a shared channel every
 * client replays the same rows; with this each row is serialized once, not once per client
 * (and clients of the same single channel then share its `id:` line too, see `Frame.withCursor`).
 *
 * Looked up by channel and sequence, but a hit is used only when type and data are the same:
 * a channel whose history was deleted and begun again reuses its sequences. Bounded by entry
 * count and by bytes (a frame's body counted twice, for the copy `withId` keeps, plus the data
 * text held for the comparison); the least recently used entries go first.
 */
export class ReplayFrames {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly maxEntries = 4096,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The frame of `event`, built at most once while it stays cached. */
  frameOf(event: StoredEvent): Frame {
    const key = `${event.seq} ${event.channel}`;
    const hit = this.entries.get(key);
    // A Map iterates in insertion order: deleting and setting again makes an entry the newest.
    if (hit) this.remove(key, hit);
    if (hit && hit.type === event.type && hit.data === event.data) {
      this.entries.set(key, hit);
      this.bytes += hit.bytes;
      return hit.frame;
    }
    const frame = new Frame(event.type, event.data, event.channel);
    const bytes = 2 * frame.body.length + event.data.length;
    this.entries.set(key, { type: event.type, data: event.data, frame, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.remove(oldest, entry);
    }
    return frame;
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}
