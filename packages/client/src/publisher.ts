import { fullJitter } from './backoff.js';
import { HeraldClientError, errorFromResponse } from './errors.js';
import { StreamWriter, type StreamWriterOptions } from './stream-writer.js';

export interface PublisherOptions {
  /** Herald's base URL, e.g. `http://localhost:8080`. */
  url: string;
  /** An API key (sent as `X-Herald-Key`). */
  apiKey?: string;
  /** Or a token with `publish` grants (sent as `Authorization: Bearer`). */
  token?: string;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Retries after a 503, 429, 409-in-progress or network failure. Default 4. */
  maxRetries?: number;
  /** Full-jitter backoff bounds for those retries. Defaults 200 and 10000. */
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/** One event for `POST /publish` (docs/http-api.md). */
export interface PublishEvent {
  channel?: string;
  channels?: string[];
  type?: string;
  data: unknown;
  durable?: boolean;
}

export interface PublishResult {
  ids: string[];
  /** `streamId` (durable events): the SSE id a stream of that channel alone shows for it. */
  events: { id: string; channel: string; seq?: number; streamId?: string }[];
  notifications?: unknown[];
}

/** A notification body for `notify`/`broadcast` (docs/inbox.md lists every field). */
export interface NotificationBody {
  title: string;
  message: string;
  category?: string;
  priority?: string;
  severity?: string;
  url?: string;
  data?: unknown;
  [field: string]: unknown;
}

type Query = Record<string, string | number | boolean | undefined>;

/** Per-call options of the writing calls. */
export interface WriteOptions {
  /**
   * The `Idempotency-Key` to send (1-200 visible ASCII characters). Default: a new UUID per
   * call. Derive it from your own id (a job id, an order id) when the same logical write can
   * be attempted again by another process: the server then publishes it once, whoever
   * retries, for `idempotencyTtlSec` (24 h). Same key, same body: the body must not change.
   */
  idempotencyKey?: string;
}

const RETRY_STATUS = new Set([429, 503]);

/**
 * The Node (server-side) publisher: `publish`, `notify`, `broadcast` and the inbox calls.
 * Every write gets its own `Idempotency-Key`, reused by its retries, so a retry after a
 * timeout or a 503 never publishes twice; 503 and 429 are retried with full-jitter backoff,
 * never sooner than `Retry-After`. Failures throw `HeraldClientError` with the server's code.
 */
export class HeraldPublisher {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: PublisherOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.fetchImpl = opts.fetch ?? ((...a) => fetch(...a));
  }

  /** Publishes one event, or several (one request each, in order). */
  publish(event: PublishEvent, options?: WriteOptions): Promise<PublishResult>;
  publish(events: PublishEvent[]): Promise<PublishResult[]>;
  async publish(
    e: PublishEvent | PublishEvent[],
    options: WriteOptions = {},
  ): Promise<PublishResult | PublishResult[]> {
    if (!Array.isArray(e)) return this.request('POST', '/publish', e, {}, options);
    const out: PublishResult[] = [];
    for (const one of e) out.push(await this.request<PublishResult>('POST', '/publish', one));
    return out;
  }

  /** Streams one AI answer into `channel` (`ai:{session}`), token by token (docs/streams.md). */
  stream(channel: string, options?: StreamWriterOptions): StreamWriter {
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers['x-herald-key'] = this.opts.apiKey;
    else if (this.opts.token) headers['authorization'] = `Bearer ${this.opts.token}`;
    return new StreamWriter({ url: this.base, headers, fetch: this.fetchImpl }, channel, options);
  }

  /** A `notification` to one user (`POST /notify/{userId}`), stored in their inbox. */
  notify(userId: string, body: NotificationBody, options?: WriteOptions): Promise<PublishResult> {
    return this.request('POST', `/notify/${encodeURIComponent(userId)}`, body, {}, options);
  }

  /** A `notification` to `users`, or to everyone when `users` is absent. */
  broadcast(
    body: NotificationBody & { users?: string[] },
    options?: WriteOptions,
  ): Promise<PublishResult> {
    return this.request('POST', '/broadcast', body, {}, options);
  }

  /** The inbox API (docs/inbox.md); `userId` names the inbox for an API key or admin. */
  readonly notifications = {
    send: (body: Record<string, unknown>, options?: WriteOptions) =>
      this.request<PublishResult>('POST', '/notifications', body, {}, options),
    list: (query: Query = {}) =>
      this.request<{ notifications: unknown[]; nextCursor: string | null }>(
        'GET',
        '/notifications',
        undefined,
        query,
      ),
    get: (id: string, query: Query = {}) =>
      this.request('GET', `/notifications/${encodeURIComponent(id)}`, undefined, query),
    summary: (query: Query = {}) => this.request('GET', '/notifications/summary', undefined, query),
    /** `read`, `unread`, `seen`, `ack`, `archive`, `unarchive` on one notification. */
    mark: (id: string, action: string, query: Query = {}) =>
      this.request(
        'POST',
        `/notifications/${encodeURIComponent(id)}/${encodeURIComponent(action)}`,
        {},
        query,
      ),
    /** The same (and `delete`) for all, or all matching `filter`. */
    markAll: (action: string, filter: Record<string, unknown> = {}, query: Query = {}) =>
      this.request('POST', `/notifications/${encodeURIComponent(action)}`, filter, query),
    delete: (id: string, query: Query = {}) =>
      this.request('DELETE', `/notifications/${encodeURIComponent(id)}`, undefined, query),
    preferences: (query: Query = {}) =>
      this.request('GET', '/notifications/preferences', undefined, query),
    setPreferences: (prefs: Record<string, unknown>, query: Query = {}) =>
      this.request('PUT', '/notifications/preferences', prefs, query),
  };

  /** One call: its Idempotency-Key (POST) is made once (or given) and sent with every retry. */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    query: Query = {},
    options: WriteOptions = {},
  ): Promise<T> {
    const q = Object.entries(query)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    const url = this.base + path + (q ? `?${q}` : '');
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers['x-herald-key'] = this.opts.apiKey;
    else if (this.opts.token) headers['authorization'] = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST')
      headers['idempotency-key'] = options.idempotencyKey ?? crypto.randomUUID();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const max = this.opts.maxRetries ?? 4;
    for (let attempt = 0; ; attempt++) {
      let err: HeraldClientError;
      try {
        const res = await this.fetchImpl(url, { method, headers, body: payload });
        if (res.ok) {
          const text = await res.text();
          return (text ? JSON.parse(text) : undefined) as T;
        }
        err = await errorFromResponse(res);
        const again =
          RETRY_STATUS.has(res.status) || err.code === 'HERALD_ERR_IDEMPOTENCY_IN_PROGRESS';
        if (!again) throw err;
      } catch (e) {
        if (
          e instanceof HeraldClientError &&
          e.status !== undefined &&
          !RETRY_STATUS.has(e.status) &&
          e.code !== 'HERALD_ERR_IDEMPOTENCY_IN_PROGRESS'
        )
          throw e;
        // A network failure: the request may or may not have been applied; the same key
        // makes the retry safe for writes (the server replays its first answer).
        err =
          e instanceof HeraldClientError
            ? e
            : new HeraldClientError('network', e instanceof Error ? e.message : String(e));
      }
      if (attempt >= max) throw err;
      const delay = Math.max(
        err.retryAfterMs ?? 0,
        fullJitter(attempt, this.opts.minRetryDelayMs ?? 200, this.opts.maxRetryDelayMs ?? 10_000),
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
