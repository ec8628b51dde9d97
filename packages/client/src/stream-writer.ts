import { HeraldClientError, errorFromResponse } from './errors.js';

/** How an answer ended, from the server's last line (docs/streams.md). */
export interface StreamResult {
  stream: string;
  /** Tokens the answer holds. */
  n: number;
  reason: 'done' | 'cancelled' | 'error';
  /** Why, when the server ended the answer with an error (a `HERALD_ERR_*` code). */
  error?: HeraldClientError;
}

export interface StreamWriterOptions {
  /** Sent with `ai_start` to every subscriber (e.g. the model name). */
  meta?: unknown;
}

/** What the writer needs from its publisher. */
export interface StreamTarget {
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
}

/**
 * One AI answer streamed into an `ai:{session}` channel over a single request
 * (`POST /streams/{channel}`, an NDJSON body): `write(token)` as tokens come, `end()` when
 * the answer is over. Tokens written in the same turn leave in one chunk. `cancelled`
 * aborts as soon as a reader cancels the answer (from any node); then stop generating:
 * `write` returns false and the server keeps nothing more.
 */
export class StreamWriter {
  /** Aborts when a reader cancelled the answer. */
  readonly cancelled: AbortSignal;
  /** The stream id, once the server opened the stream (rejects if it refused). */
  readonly started: Promise<string>;
  /** How the answer ended (rejects if the request failed or was refused). */
  readonly done: Promise<StreamResult>;
  private readonly cancel = new AbortController();
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private pending = '';
  private flushing = false;
  private closed = false;
  private readonly encoder = new TextEncoder();

  constructor(target: StreamTarget, channel: string, options: StreamWriterOptions = {}) {
    this.cancelled = this.cancel.signal;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (this.controller = c) });
    if (options.meta !== undefined) this.line({ meta: options.meta });
    let opened: (id: string) => void = () => undefined;
    let refused: (err: unknown) => void = () => undefined;
    this.started = new Promise<string>((resolve, reject) => {
      opened = resolve;
      refused = reject;
    });
    this.started.catch(() => undefined);
    this.done = (async () => {
      const res = await target.fetch(`${target.url}/streams/${encodeURIComponent(channel)}`, {
        method: 'POST',
        headers: { ...target.headers, 'content-type': 'application/x-ndjson' },
        body,
        duplex: 'half',
      } as RequestInit);
      if (!res.ok) throw await errorFromResponse(res);
      let last: Record<string, unknown> | undefined;
      for await (const line of lines(res)) {
        if (typeof line['stream'] === 'string' && last === undefined) opened(line['stream']);
        if (line['cancelled'] === true) this.stop();
        last = line;
      }
      const e = last?.['error'] as { code?: string; message?: string } | undefined;
      const result: StreamResult = {
        stream: typeof last?.['stream'] === 'string' ? last['stream'] : '',
        n: Number(last?.['n'] ?? 0),
        reason: (last?.['reason'] as StreamResult['reason'] | undefined) ?? 'error',
      };
      if (e?.code) {
        result.error = new HeraldClientError(e.code as `HERALD_ERR_${string}`, e.message ?? e.code);
      }
      return result;
    })();
    this.done.catch((err: unknown) => {
      refused(err);
      this.stop();
    });
  }

  /** Queues one token; false once the answer is over (cancelled or ended). */
  write(token: string): boolean {
    if (this.closed) return false;
    this.line({ token });
    return true;
  }

  /** Ends the answer (`error`: it failed upstream) and resolves with how it ended. */
  end(reason: 'done' | 'error' = 'done'): Promise<StreamResult> {
    if (!this.closed) {
      this.line({ end: reason });
      this.flush();
      this.closed = true;
      this.controller.close();
    }
    return this.done;
  }

  private line(o: unknown): void {
    this.pending += JSON.stringify(o) + '\n';
    if (!this.flushing) {
      this.flushing = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushing = false;
    if (this.pending === '' || this.closed) return;
    this.controller.enqueue(this.encoder.encode(this.pending));
    this.pending = '';
  }

  /** Cancelled (or failed): nothing more is sent; the body ends so the answer can finish. */
  private stop(): void {
    if (!this.cancel.signal.aborted) this.cancel.abort();
    if (this.closed) return;
    this.closed = true;
    this.pending = '';
    try {
      this.controller.close();
    } catch {
      // already closed
    }
  }
}

/** The JSON lines of a response, as they arrive. */
async function* lines(res: Response): AsyncGenerator<Record<string, unknown>> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const parts = (rest + decoder.decode(value, { stream: true })).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) if (p.trim()) yield JSON.parse(p) as Record<string, unknown>;
  }
  if (rest.trim()) yield JSON.parse(rest) as Record<string, unknown>;
}
