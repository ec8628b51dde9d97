/**
 * Where the client is in each AI answer streaming on its `ai:{session}` channels
 * (docs/streams.md): the stream id and how many of its tokens it has. The server resumes
 * from these when the client reconnects; the client drops a token it already has (a second
 * leader tab's copy, an overlap), so each `ai_response` is seen once, in order.
 *
 * On the wire the positions come first in the resume cursor:
 * `<channel>=<stream>.<n36>~…~<durable cursor>`.
 */
export class StreamBook {
  private readonly at = new Map<string, { stream: string; n: number }>();

  /**
   * Records a stream event: 'token' for a new `ai_start`/`ai_response`, 'dup' for one the
   * client already has, undefined for anything else. `id` names the channel when the
   * transport does not (EventSource).
   */
  accept(
    channel: string | undefined,
    type: string,
    data: string,
    id?: string,
  ): 'token' | 'dup' | undefined {
    if (type !== 'ai_start' && type !== 'ai_response' && type !== 'ai_complete') return undefined;
    let d: { stream?: unknown; i?: unknown };
    try {
      d = JSON.parse(data) as typeof d;
    } catch {
      return undefined;
    }
    if (typeof d.stream !== 'string') return undefined;
    const ch = channel ?? channelOf(id, d.stream);
    if (ch === undefined || !ch.startsWith('ai:')) return undefined;
    const at = this.at.get(ch);
    if (type === 'ai_complete') {
      if (at?.stream === d.stream) this.at.delete(ch);
      return undefined;
    }
    const i = type === 'ai_start' ? -1 : typeof d.i === 'number' ? d.i : NaN;
    if (Number.isNaN(i)) return undefined;
    if (at && at.stream === d.stream) {
      if (i < at.n) return 'dup';
      // Out of order (not from the stream service): passed on; the position stays contiguous.
      if (i === at.n) at.n++;
    } else this.at.set(ch, { stream: d.stream, n: i + 1 });
    return 'token';
  }

  /** A `reset` with reason `stream-gone`: those channels' answers are not resumable. */
  forget(channels: readonly string[]): void {
    for (const c of channels) this.at.delete(c);
  }

  /** The resume cursor for `channels`: stream positions in front of the durable `cursor`. */
  resume(channels: readonly string[], cursor: string | undefined): string | undefined {
    let prefix = '';
    for (const [c, p] of this.at) {
      if (channels.includes(c)) prefix += `${c}=${p.stream}.${p.n.toString(36)}~`;
    }
    return prefix === '' ? cursor : prefix + (cursor ?? '');
  }
}

/** The durable part of an SSE id (the stream positions in front removed). */
export function durableId(id: string): string;
export function durableId(id: string | undefined): string | undefined;
export function durableId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const k = id.lastIndexOf('~');
  return k < 0 ? id : id.slice(k + 1);
}

/** The channel whose stream position in `id` names `stream`. */
function channelOf(id: string | undefined, stream: string): string | undefined {
  for (const entry of id?.split('~').slice(0, -1) ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0 && entry.slice(eq + 1, entry.lastIndexOf('.')) === stream) return entry.slice(0, eq);
  }
  return undefined;
}
