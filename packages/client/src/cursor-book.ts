/**
 * What the client knows of its position in each channel, so that it can resume with no loss,
 * drop what it already saw, and change its channel set without losing the channels it keeps.
 *
 * A durable event's SSE id is the stream's position in every one of its channels:
 * `<tag>.<seq1>.<seq2>…` in sorted channel order (docs/protocol.md). The `connected` event
 * names those channels and, from the server's per-channel cursors on, each channel's own tag.
 * Positions only move forward, except where the server says `reset`. One number and one tag
 * per channel: memory is bounded by the channel count, not by the events seen.
 */
export class CursorBook {
  private tag: string | null = null;
  private chans: string[] = [];
  private start: number[] = [];
  private readonly pos = new Map<string, { t?: string; seq: number }>();

  /** The stream's channels, in the server's (sorted) order. */
  get streamChannels(): readonly string[] {
    return this.chans;
  }

  /** The composite cursor of the current stream at the last durable event seen. */
  get cursor(): string | null {
    if (this.tag === null) return null;
    return [
      this.tag,
      ...this.chans.map((c) => Math.max(0, this.pos.get(c)?.seq ?? 0).toString(36)),
    ].join('.');
  }

  /** One channel's position in the per-channel form `tag1.seq36`, when its tag is known. */
  channelCursor(channel: string): string | null {
    const p = this.pos.get(channel);
    return p?.t !== undefined && p.seq >= 0 ? `${p.t}.${p.seq.toString(36)}` : null;
  }

  /** A stream (or poll) began at `id` over `channels`; `cursors` are per-channel `tag1.seq36`. */
  opened(
    id: string | undefined,
    channels: string[],
    cursors?: Record<string, string>,
    late = false,
  ): void {
    const parts = id?.split('.') ?? [];
    const seqs = parts.slice(1).map((s) => parseInt(s, 36));
    if (parts.length === channels.length + 1 && seqs.every((n) => n >= 0)) {
      this.tag = parts[0] ?? null;
      this.chans = channels;
      this.start = seqs;
    } else {
      this.tag = null;
      this.chans = channels;
      this.start = [];
    }
    channels.forEach((c, i) => {
      const [t, s] = (cursors?.[c] ?? '').split('.');
      const seq = late ? -1 : s !== undefined ? parseInt(s, 36) : (this.start[i] ?? -1);
      const p = this.pos.get(c);
      // A new channel, or one whose history was replaced (its tag changed), starts where the
      // server says; a known one keeps its own position, which the replay then catches up.
      if (!p || (t && p.t !== undefined && p.t !== t)) this.pos.set(c, { t, seq });
      else if (t) p.t = t;
    });
  }

  /** `reset` for `channels`: their positions are where the stream now starts them. */
  reset(channels: string[], late = false): void {
    for (const c of channels) {
      const i = this.chans.indexOf(c);
      const p = this.pos.get(c);
      if (p) p.seq = i >= 0 && !late ? (this.start[i] ?? -1) : -1;
    }
  }

  /** A poll was answered: channels still without a position take it from there. */
  settle(): void {
    this.chans.forEach((c, i) => {
      const p = this.pos.get(c);
      if (p && p.seq < 0) p.seq = this.start[i] ?? 0;
    });
  }

  /**
   * A durable event with SSE id `id`: true when it is new (some channel moved forward), and
   * then records it; false for one already seen (a replay overlap, a second leader's copy).
   * Returns the channel that moved, when exactly one did (for frames without `channel:`).
   */
  accept(id: string): { fresh: boolean; channel?: string } {
    const parts = id.split('.');
    if (parts[0] !== this.tag || parts.length !== this.chans.length + 1) return { fresh: true };
    let moved: string | undefined;
    let count = 0;
    this.chans.forEach((c, i) => {
      const seq = parseInt(parts[i + 1] ?? '', 36);
      const p = this.pos.get(c);
      if (!p || !(seq >= 0)) return;
      if (seq > p.seq) {
        p.seq = seq;
        moved = c;
        count++;
      }
    });
    return count === 1 ? { fresh: true, channel: moved } : { fresh: count > 0 };
  }

  /** Sets a channel's position from a per-channel cursor `tag1.seq36` (subscribe `since`). */
  seed(channel: string, cursor: string): void {
    const [t, s] = cursor.split('.');
    const seq = parseInt(s ?? '', 36);
    if (t && seq >= 0) this.pos.set(channel, { t, seq });
  }

  /** Forgets channels no longer wanted, so adding one back later starts at "now". */
  keepOnly(channels: readonly string[]): void {
    for (const c of [...this.pos.keys()]) if (!channels.includes(c)) this.pos.delete(c);
  }

  /**
   * The resume cursor for a stream over `channels`: the composite id when the set is the
   * current stream's, else the per-channel form over the channels whose tag is known
   * (others start at "now"), else none.
   */
  resume(channels: readonly string[]): string | undefined {
    const sorted = [...channels].sort();
    if (this.tag !== null && sorted.join(',') === this.chans.join(',')) {
      return this.cursor ?? undefined;
    }
    const entries = sorted.flatMap((c) => {
      const cur = this.channelCursor(c);
      return cur ? [`${c}=${cur}`] : [];
    });
    return entries.length > 0 ? entries.join(',') : undefined;
  }
}
