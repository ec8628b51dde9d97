import type { Herald, HeraldEvent } from '@herald/client';
import { RunningStore, type HeraldApi } from '@herald/client/inbox';

export type StreamingStatus = 'idle' | 'streaming' | 'complete' | 'cancelled' | 'error';

export interface StreamingTextState {
  readonly status: StreamingStatus;
  /** The answer so far (the whole answer once it ended). */
  readonly text: string;
  /** The id of the stream shown (the latest on the channel); null before any. */
  readonly stream: string | null;
  /** Tokens in `text`. */
  readonly tokens: number;
}

/** `GET /streams/{channel}`: the latest stream's text so far. */
interface StreamSnapshot {
  stream: string | null;
  status: StreamingStatus;
  text: string;
  n: number;
}

interface Start {
  stream: string;
}
interface Token {
  stream: string;
  i: number;
  token: string;
}
interface Complete {
  stream: string;
  text: string;
  n: number;
  reason: 'done' | 'cancelled' | 'error';
}

const IDLE: StreamingTextState = { status: 'idle', text: '', stream: null, tokens: 0 };

/**
 * A token-streamed answer on one channel (`ai:{session}`; the wire is `ai_start {stream}`,
 * ephemeral `ai_response {stream, i, token}`, durable `ai_complete {stream, text, n,
 * reason}`). On start it subscribes, then asks `GET /streams/{channel}` for the text so far,
 * holding live events until the answer is in: so a page reloaded mid-answer shows the text
 * and carries on with the live tokens, each placed by its index `i` (a token already in the
 * text is skipped, one that comes early waits for the gap to fill). `ai_complete` carries
 * the whole text, which settles any gap. Where the route does not exist (404), the live
 * events alone are shown, from the first one seen. A newer stream replaces the one shown;
 * late events of an older one (its tokens, its `ai_complete`) are dropped.
 */
export class TokenStream extends RunningStore<StreamingTextState> {
  /** The index the next token must have to be appended. */
  private next = 0;
  /** Tokens that came before their turn, by index. */
  private early = new Map<number, string>();
  /** Streams a newer one replaced: their late events are dropped. */
  private readonly retired = new Set<string>();

  constructor(
    private readonly client: Herald | null,
    private readonly api: HeraldApi,
    private readonly channel: string,
  ) {
    super(IDLE);
  }

  protected override get runnable(): boolean {
    return this.client !== null;
  }

  protected open(): () => void {
    const run = this.run;
    let held: HeraldEvent[] | null = [];
    this.reset(IDLE);
    this.retired.clear();
    const sub = this.client!.subscribe(this.channel, (e) => (held ? held.push(e) : this.apply(e)));
    const live = () => {
      const events = held ?? [];
      held = null;
      events.forEach((e) => this.apply(e));
    };
    this.api.get<StreamSnapshot>(this.path()).then(
      (s) => {
        if (run !== this.run) return;
        if (s.stream) {
          this.reset({ status: s.status, text: s.text, stream: s.stream, tokens: s.n });
        }
        live();
      },
      () => {
        // 404: no stream buffer on this server (or any other failure): show what comes live.
        if (run === this.run) live();
      },
    );
    return () => sub.unsubscribe();
  }

  /** Asks the producer to stop; `ai_complete` with `cancelled` then ends it for every viewer. */
  async cancel(): Promise<void> {
    await this.api.post(`${this.path()}/cancel`);
  }

  private path(): string {
    return `/streams/${encodeURIComponent(this.channel)}`;
  }

  private reset(state: StreamingTextState): void {
    const old = this.state.stream;
    if (old !== null && old !== state.stream) this.retired.add(old);
    this.next = state.tokens;
    this.early.clear();
    this.update(state);
  }

  /** Whether a stream not seen starting may take the place of the one shown. */
  private replaceable(): boolean {
    return this.state.stream === null || this.state.status !== 'streaming';
  }

  private apply(e: HeraldEvent): void {
    const s = this.state;
    const stream = (e.data as { stream?: unknown } | null)?.stream;
    if (typeof stream !== 'string' || this.retired.has(stream)) return;
    switch (e.type) {
      case 'ai_start': {
        const d = e.data as Start;
        if (d.stream === s.stream) return;
        return this.reset({ status: 'streaming', text: '', stream: d.stream, tokens: 0 });
      }
      case 'ai_response': {
        const d = e.data as Token;
        if (typeof d.i !== 'number') return;
        if (d.stream !== s.stream) {
          if (!this.replaceable()) return; // a late token of an older stream
          // A stream whose start was not seen (no buffer to ask): from this token on.
          this.reset({ status: 'streaming', text: '', stream: d.stream, tokens: 0 });
          this.next = d.i;
        } else if (s.status !== 'streaming') return;
        if (d.i < this.next) return; // already in the text
        this.early.set(d.i, String(d.token));
        let text = this.state.text;
        let tokens = this.state.tokens;
        for (let t = this.early.get(this.next); t !== undefined; t = this.early.get(this.next)) {
          this.early.delete(this.next);
          text += t;
          tokens++;
          this.next++;
        }
        if (tokens !== this.state.tokens) this.update({ text, tokens });
        return;
      }
      case 'ai_complete': {
        const d = e.data as Complete;
        if (typeof d.text !== 'string') return;
        if (d.stream !== s.stream && !this.replaceable()) return; // an older stream's end
        const status: StreamingStatus = d.reason === 'done' ? 'complete' : d.reason;
        return this.reset({ status, text: d.text, stream: d.stream, tokens: d.n });
      }
    }
  }
}
