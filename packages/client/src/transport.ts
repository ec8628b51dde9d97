import { HeraldClientError, errorFromResponse } from './errors.js';
import { SseParser, type SseEvent } from './sse-parser.js';

/** What a stream transport reports; after `closed` it reports nothing more. */
export interface StreamSink {
  /** The server accepted the stream (HTTP 200, `text/event-stream`). */
  opened(): void;
  event(e: SseEvent): void;
  retry(ms: number): void;
  /** The stream ended: cleanly (no error), or with why. */
  closed(err?: HeraldClientError): void;
}

export interface StreamRequest {
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  stallMs: number;
  maxEventSize: number;
}

/** True where `fetch` can stream a response body (every current browser and Node 18+). */
export function canStreamFetch(): boolean {
  return (
    typeof fetch === 'function' &&
    typeof ReadableStream === 'function' &&
    typeof TextDecoder === 'function' &&
    'body' in Response.prototype
  );
}

/**
 * An SSE stream over `fetch`: the token travels in the `Authorization` header, never the URL.
 * Bytes are decoded as UTF-8 across chunk boundaries and fed to the parser; a stream silent for
 * `stallMs` (no byte, not even a heartbeat comment) is aborted, so a server or proxy that
 * stalls mid-event cannot hold the client for ever.
 */
export function openFetchStream(req: StreamRequest, sink: StreamSink): { close(): void } {
  const ac = new AbortController();
  let done = false;
  let stall: ReturnType<typeof setTimeout> | undefined;
  const finish = (err?: HeraldClientError) => {
    if (done) return;
    done = true;
    clearTimeout(stall);
    ac.abort();
    sink.closed(err);
  };
  const arm = () => {
    clearTimeout(stall);
    stall = setTimeout(
      () => finish(new HeraldClientError('stall', `no data for ${req.stallMs} ms`)),
      req.stallMs,
    );
  };
  const parser = new SseParser({
    onEvent: (e) => !done && sink.event(e),
    onRetry: (ms) => !done && sink.retry(ms),
    maxEventSize: req.maxEventSize,
  });
  const run = async () => {
    arm();
    const res = await req.fetch(req.url, {
      headers: { accept: 'text/event-stream', ...req.headers },
      credentials: 'include',
      cache: 'no-store',
      signal: ac.signal,
    });
    if (!res.ok) return finish(await errorFromResponse(res));
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || !res.body) {
      await res.body?.cancel();
      return finish(
        new HeraldClientError('protocol', `not an event stream: "${type}"`, res.status),
      );
    }
    sink.opened();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (done) return;
      if (end) break;
      arm();
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
    parser.end();
    finish();
  };
  run().catch((err: unknown) => {
    if (done) return;
    finish(
      err instanceof HeraldClientError
        ? err
        : new HeraldClientError('network', err instanceof Error ? err.message : String(err)),
    );
  });
  return { close: () => finish() };
}

/**
 * An SSE stream over `EventSource`, for where `fetch` cannot stream: credentials are the
 * cookie session (withCredentials) or `?token=` in the URL. EventSource hides the status of a
 * refused request and never shows the `channel:` field or `retry:`, and reaches listeners
 * only for event types it is told, so `types` lists them. Its own reconnects are turned off:
 * the client reconnects, with its own cursor and a fresh token.
 */
export function openEventSource(
  ES: typeof EventSource,
  url: string,
  types: readonly string[],
  sink: StreamSink,
): { close(): void } {
  const es = new ES(url, { withCredentials: true });
  let done = false;
  const finish = (err?: HeraldClientError) => {
    if (done) return;
    done = true;
    es.close();
    sink.closed(err);
  };
  es.onopen = () => sink.opened();
  es.onerror = () => finish(new HeraldClientError('network', 'EventSource failed'));
  const on = (e: Event) => {
    if (done) return;
    const m = e as MessageEvent<string>;
    const ev: SseEvent = { event: m.type, data: m.data };
    // MessageEvent.lastEventId persists across events; only durable events move it.
    if (m.lastEventId && m.lastEventId !== last) ev.id = last = m.lastEventId;
    sink.event(ev);
  };
  let last = '';
  for (const t of new Set(['message', ...types])) es.addEventListener(t, on);
  return { close: () => finish() };
}
