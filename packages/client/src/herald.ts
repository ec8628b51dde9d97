import { fullJitter } from './backoff.js';
import { CursorBook } from './cursor-book.js';
import { HeraldClientError, errorFromResponse } from './errors.js';
import { StreamBook, durableId } from './stream-book.js';
import { observable, type Observable } from './observable.js';
import type { SseEvent } from './sse-parser.js';
import { TabLink, type TabMessage } from './tab-link.js';
import { canStreamFetch, openEventSource, openFetchStream } from './transport.js';

export type ConnectionState =
  'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'closed';
export type TransportKind = 'fetch' | 'eventsource' | 'poll' | 'shared';

/** Why the last state change happened: a code from docs/client.md and a sentence. */
export interface Reason {
  code: string;
  message: string;
}

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  reason: Reason | null;
  transport: TransportKind | null;
}

export interface HeraldEvent<T = unknown, K extends string = string> {
  /** The SSE id (composite cursor) of a durable event; absent for ephemeral ones. */
  id?: string;
  /** The `event:` field (`message` if none). */
  type: K;
  /** From the `channel:` field. */
  channel?: string;
  /** JSON-parsed when the text is JSON, else the string. */
  data: T;
  /** The data text as received. */
  text: string;
}

/** Event type → data type, for `new Herald<MyEvents>()`. */
export type EventMap = Record<string, unknown>;
/** A HeraldEvent whose `data` narrows by `type`. */
export type TypedEvent<M extends EventMap> = {
  [K in keyof M & string]: HeraldEvent<M[K], K>;
}[keyof M & string];

export interface ResetInfo {
  reason: string;
  channels: string[];
}

export interface HeraldOptions {
  /** Herald's base URL. Default: the page's origin. */
  url?: string;
  /** Channels to open with (more via subscribe()). Default: none. */
  channels?: string[];
  /** Returns the JWT; null or absent: the cookie session. Called before connecting, before `exp`, on `token-expired`. */
  getToken?: () => string | null | Promise<string | null>;
  /** One connection for the tabs of the origin that share a `shareKey`. Default: true in browsers. */
  shared?: boolean;
  /**
   * Which tabs share a connection: only those with the same Herald URL and key. Default: the
   * user, i.e. the token's `sub` (else the token; the cookie session is one user per browser),
   * so two users in two tabs never share a stream.
   */
  shareKey?: string;
  /** Default 'auto': fetch streaming, else EventSource, polling after `pollAfterFailures`. */
  transport?: 'auto' | 'fetch' | 'eventsource' | 'poll';
  /** Stream failures in a row before polling. Default 3. */
  pollAfterFailures?: number;
  /** While polling, try streaming again this often. Default 60000. */
  streamRetryMs?: number;
  /** Full-jitter backoff bounds. Defaults 500 and 30000. */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Close the stream while the page is hidden (not with `shared`). Default false. */
  pauseWhenHidden?: boolean;
  /** Resume cursor to start from (e.g. a `herald.cursor` kept in storage). Default: none ("now"). */
  cursor?: string;
  /** Connect on construction. Default true. */
  autoConnect?: boolean;
  /** For Node or tests. Default: the global fetch. */
  fetch?: typeof fetch;
  /** For the EventSource transport outside browsers (e.g. the `eventsource` package). */
  EventSource?: typeof EventSource;
  /** Event types the EventSource transport listens for, besides Herald's own. */
  eventTypes?: string[];
  /** A stream silent this long (heartbeats included) is dropped and reopened. Default 45000. */
  stallTimeoutMs?: number;
  /** Longest line or event accepted, in characters. Default 1048576. */
  maxEventSize?: number;
}

type Listeners = {
  state: StateChange;
  event: HeraldEvent;
  reset: ResetInfo;
  error: HeraldClientError;
};

const CONTROL = ['connected', 'reset', 'token-expired', 'shutdown', 'stream-error', 'evicted'];
const FATAL_STATUS = new Set([400, 403, 404]);

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The claims of a JWT (not verified: the server has the last word), or undefined. */
function tokenClaims(token: string): Record<string, unknown> | undefined {
  try {
    const part = token.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const claims: unknown = JSON.parse(json);
    return typeof claims === 'object' && claims !== null ? (claims as never) : undefined;
  } catch {
    return undefined;
  }
}

/** Seconds since the epoch at which a JWT expires, or undefined. */
function tokenExp(token: string): number | undefined {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === 'number' ? exp : undefined;
}

/**
 * Who a token is, for the tabs' share key: its `sub`, else the token itself; the cookie session
 * (no token) is one user per browser.
 */
function tokenIdentity(token: string | null): string {
  if (token === null) return 'cookie';
  const sub = tokenClaims(token)?.sub;
  return typeof sub === 'string' ? `sub:${sub}` : `token:${token}`;
}

/** A 53-bit hash as base 36 (cyrb53): names of locks and channels without the user id in clear. */
function hash53(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/**
 * A connection to Herald as a state machine (docs/client.md): one `setState` that emits only
 * on change, with the reason as a code. It keeps the cursor across reconnects, transports and
 * tab handovers, drops what it already saw by per-channel position, surfaces `reset`, and
 * never drops an event silently.
 */
export class Herald<M extends EventMap = EventMap> {
  state: ConnectionState = 'disconnected';
  transport: TransportKind | null = null;
  reason: Reason | null = null;

  private readonly opts: HeraldOptions;
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly book = new CursorBook();
  /** Positions in the AI answers of `ai:` channels (docs/streams.md). */
  private readonly streams = new StreamBook();
  private readonly listeners: { [K in keyof Listeners]: Set<(v: Listeners[K]) => void> } = {
    state: new Set(),
    event: new Set(),
    reset: new Set(),
    error: new Set(),
  };
  private readonly base_channels: Set<string>;
  private readonly subs = new Map<string, Set<(e: HeraldEvent) => void>>();
  /** Bumped on every new attempt: callbacks of an older attempt see a mismatch and stop. */
  private gen = 0;
  private stream: { close(): void } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private failures = 0;
  private retryHint: number | undefined;
  private token: string | null | undefined;
  private tokenFresh = false;
  private tokenEpoch = 0;
  private wanted = false;
  private polling = false;
  private waiting = false;
  private initialCursor: string | undefined;
  private pollSince = 0;
  private streamChans = '';
  private link: TabLink | undefined;
  /** Waiting for the share key (the token) before joining the tabs: no stream meanwhile. */
  private linking = false;
  private lastConnected: SseEvent | undefined;
  private readonly cleanups: (() => void)[] = [];

  constructor(options: HeraldOptions = {}) {
    this.opts = options;
    const origin = typeof location !== 'undefined' ? location.origin : '';
    this.base = (options.url ?? origin).replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((...a) => fetch(...a));
    this.base_channels = new Set(options.channels ?? []);
    this.initialCursor = options.cursor;
    if (options.autoConnect !== false) this.connect();
  }

  /** This tab's channels: the constructor's and every subscribed one. */
  get channels(): readonly string[] {
    return [...new Set([...this.base_channels, ...this.subs.keys()])].sort();
  }

  /** The composite cursor of the last durable event seen (the stream's resume position). */
  get cursor(): string | null {
    return this.book.cursor;
  }

  /** One channel's position, `tag1.seq36`, usable as `subscribe(channel, fn, { since })`. */
  channelCursor(channel: string): string | null {
    return this.book.channelCursor(channel);
  }

  on<K extends keyof Listeners>(
    what: K,
    fn: (v: K extends 'event' ? TypedEvent<M> : Listeners[K]) => void,
  ): () => void {
    const set = this.listeners[what] as Set<unknown>;
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * Adds a channel to the stream (reconnecting with the cursor of every channel it keeps;
   * the new one starts at "now", or at `since`, a cursor from `channelCursor`).
   */
  subscribe(
    channel: string,
    fn: (e: TypedEvent<M>) => void,
    opts: { since?: 'now' | (string & {}) } = {},
  ): { unsubscribe(): void } {
    let set = this.subs.get(channel);
    const added = !set && !this.base_channels.has(channel);
    if (!set) this.subs.set(channel, (set = new Set()));
    const f = fn as (e: HeraldEvent) => void;
    set.add(f);
    if (added && opts.since && opts.since !== 'now') this.book.seed(channel, opts.since);
    if (added) this.channelsChanged();
    let done = false;
    return {
      unsubscribe: () => {
        if (done) return;
        done = true;
        set.delete(f);
        if (set.size === 0 && this.subs.get(channel) === set) {
          this.subs.delete(channel);
          if (!this.base_channels.has(channel)) this.channelsChanged();
        }
      },
    };
  }

  /** Every event (of `channels`, when given) as an Observable. */
  events(channels?: string[]): Observable<TypedEvent<M>> {
    return observable((emit) =>
      this.on('event', (e) => {
        if (!channels || (e.channel !== undefined && channels.includes(e.channel))) emit(e);
      }),
    );
  }

  states(): Observable<StateChange> {
    return observable((emit) => this.on('state', emit));
  }

  connect(): void {
    if (this.state === 'closed' || this.wanted) return;
    this.wanted = true;
    // The page's listeners only matter once connecting, so constructing a client (as a React
    // render may, and then drop it) touches nothing outside it.
    if (this.cleanups.length === 0) this.listenToPage();
    this.setState('connecting', 'connect-called', 'connect() was called');
    this.start();
  }

  /** Closes the connection; `connect()` opens it again from the same cursor. */
  disconnect(): void {
    if (this.state === 'closed') return;
    this.stop();
    this.token = undefined; // a logout must not leave the next connect the old token
    this.tokenEpoch++;
    this.setState('disconnected', 'disconnect-called', 'disconnect() was called');
  }

  /** Closes for good: every listener and timer is released. */
  close(): void {
    if (this.state === 'closed') return;
    this.stop();
    for (const c of this.cleanups.splice(0)) c();
    this.setState('closed', 'close-called', 'close() was called');
    for (const s of Object.values(this.listeners)) s.clear();
    this.subs.clear();
  }

  /** The app's kill switch: force a transport ('poll' while SSE is blocked), or 'auto' again. */
  setTransport(kind: NonNullable<HeraldOptions['transport']>): void {
    this.opts.transport = kind;
    this.polling = kind === 'poll';
    if (this.wanted) this.restart('transport-changed', `transport set to ${kind}`);
  }

  // ---- the state machine ----

  private setState(state: ConnectionState, code: string, message: string): void {
    this.reason = { code, message };
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    const change = { state, previous, reason: this.reason, transport: this.transport };
    if (this.link?.leader) this.link.post({ k: 'st', state, reason: this.reason });
    this.emit('state', change);
  }

  private emit<K extends keyof Listeners>(what: K, v: Listeners[K]): void {
    for (const fn of [...this.listeners[what]]) {
      try {
        fn(v);
      } catch (err) {
        // A listener's bug must not stop delivery to the others or break the connection.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private fail(err: HeraldClientError): void {
    this.emit('error', err);
  }

  private stop(): void {
    this.wanted = false;
    this.gen++;
    this.closeStream();
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    this.link?.stop();
    this.link = undefined;
    this.linking = false;
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    s?.close();
  }

  private start(): void {
    const shared =
      this.opts.shared ?? (typeof document !== 'undefined' && typeof window !== 'undefined');
    if (!shared || !TabLink.available()) return this.open('connect-called', 'connecting');
    this.transport = 'shared';
    this.linking = true;
    const g = this.gen;
    const key = this.opts.shareKey;
    const identity =
      key !== undefined ? Promise.resolve(`key:${key}`) : this.getToken().then(tokenIdentity);
    void identity.then(
      (id) => {
        if (g !== this.gen || !this.linking) return;
        this.linking = false;
        this.link = new TabLink(
          `herald:${this.base}:${hash53(id)}`,
          {
            lead: () => this.open('leader', 'this tab leads the connection'),
            follow: () => {
              this.gen++;
              this.closeStream();
              clearTimeout(this.timer);
              this.transport = 'shared';
            },
            message: (m) => this.fromTab(m),
          },
          () => [...this.channels],
        );
      },
      () => {
        // No token, so no key: connect on its own (open() retries getToken with backoff).
        if (g !== this.gen || !this.linking) return;
        this.linking = false;
        this.open('connect-called', 'connecting');
      },
    );
  }

  /** Channels of the stream: this tab's, and, when it leads, every other tab's. */
  private streamChannels(): string[] {
    const all = new Set(this.channels);
    if (this.link?.leader) for (const ch of this.link.peers.values()) ch.forEach((c) => all.add(c));
    return [...all].sort();
  }

  private channelsChanged(): void {
    this.link?.announce();
    if (!this.wanted || (this.link && !this.link.leader)) return;
    this.book.keepOnly(this.streamChannels());
    this.restart('channels-changed', 'the channel set changed');
  }

  /** Reopens at once (same cursor), unless the channel set and the stream already agree. */
  private restart(code: string, message: string): void {
    if (this.link && !this.link.leader) return;
    if (code === 'channels-changed') {
      // Unchanged, or a reconnect is already planned (it will take the new channels).
      if (this.waiting || (this.stream && this.streamChans === this.streamChannels().join(',')))
        return;
    }
    this.attempts = 0;
    this.open(code, message);
  }

  private schedule(delay: number, code: string, message: string): void {
    this.setState(this.state === 'connecting' ? 'connecting' : 'reconnecting', code, message);
    clearTimeout(this.timer);
    const g = this.gen;
    this.waiting = true;
    this.timer = setTimeout(() => {
      if (g === this.gen) this.open(code, message);
    }, delay);
  }

  private backoff(): number {
    return fullJitter(
      this.attempts++,
      this.opts.minReconnectDelayMs ?? 500,
      this.opts.maxReconnectDelayMs ?? 30_000,
    );
  }

  /** Opens a stream or a poll loop for the current channels, with the cursor. */
  private open(code: string, message: string): void {
    if (this.linking) return; // start() opens once the tabs are joined
    const g = ++this.gen;
    this.closeStream();
    clearTimeout(this.timer);
    this.waiting = false;
    if (!this.wanted) return;
    if (this.state === 'connected') this.setState('reconnecting', code, message);
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      return this.setState(
        this.state === 'connecting' ? 'connecting' : 'reconnecting',
        'offline',
        'the device is offline',
      );
    }
    if (
      this.opts.pauseWhenHidden &&
      !this.link &&
      typeof document !== 'undefined' &&
      document.hidden
    ) {
      return this.setState('disconnected', 'hidden', 'paused while the page is hidden');
    }
    const channels = this.streamChannels();
    if (channels.length === 0) {
      this.transport = null;
      return this.setState('disconnected', 'no-channels', 'no channel to stream');
    }
    void this.getToken().then(
      (token) => {
        if (g !== this.gen) return;
        if (this.opts.transport === 'poll' || this.polling) return this.poll(g, channels, token);
        this.openStream(g, channels, token);
      },
      (err: unknown) => {
        if (g !== this.gen) return;
        this.fail(new HeraldClientError('auth', `getToken() failed: ${String(err)}`));
        this.schedule(this.backoff(), 'auth', 'getToken() failed');
      },
    );
  }

  private async getToken(): Promise<string | null> {
    const get = this.opts.getToken;
    if (!get) return null;
    if (this.token !== undefined) return this.token;
    const epoch = this.tokenEpoch;
    const token = await get();
    // A token asked for before disconnect() (a logout) must not serve the next connect.
    if (epoch !== this.tokenEpoch) throw new Error('superseded by disconnect()');
    this.token = token;
    this.tokenFresh = true;
    this.planRefresh(token);
    return token;
  }

  /** Fetches a new token shortly before `exp` and reopens with it, from the same cursor. */
  private planRefresh(token: string | null): void {
    clearTimeout(this.refreshTimer);
    const exp = token ? tokenExp(token) : undefined;
    if (exp === undefined) return;
    const left = exp * 1000 - Date.now();
    const margin = Math.min(30_000, left / 10);
    this.refreshTimer = setTimeout(
      () => {
        this.token = undefined;
        if (this.wanted && (!this.link || this.link.leader))
          this.restart('token-refresh', 'the token is about to expire');
      },
      Math.max(0, left - margin),
    );
  }

  private headers(token: string | null, cursor: string | undefined): Record<string, string> {
    const h: Record<string, string> = {};
    if (token) h['authorization'] = `Bearer ${token}`;
    if (cursor) h['last-event-id'] = cursor;
    return h;
  }

  private url(path: string, channels: string[], extra: Record<string, string> = {}): string {
    const q = [`channels=${channels.map(encodeURIComponent).join(',')}`];
    for (const [k, v] of Object.entries(extra)) q.push(`${k}=${encodeURIComponent(v)}`);
    return `${this.base}${path}?${q.join('&')}`;
  }

  private resumeCursor(channels: string[]): string | undefined {
    return this.streams.resume(channels, this.book.resume(channels) ?? this.initialCursor);
  }

  private openStream(g: number, channels: string[], token: string | null): void {
    const cursor = this.resumeCursor(channels);
    let connected = false;
    const sink = {
      opened: () => undefined,
      retry: (ms: number) => (this.retryHint = ms),
      event: (e: SseEvent) => {
        if (g !== this.gen) return;
        if (e.event === 'connected') connected = true;
        this.handle(e, true);
      },
      closed: (err?: HeraldClientError) => {
        if (g !== this.gen) return;
        this.stream = undefined;
        this.closed(err, connected);
      },
    };
    const ES =
      this.opts.EventSource ?? (typeof EventSource === 'function' ? EventSource : undefined);
    const useES =
      this.opts.transport === 'eventsource' ||
      (this.opts.transport !== 'fetch' && !canStreamFetch() && ES);
    this.streamChans = channels.join(',');
    if (useES && ES) {
      this.transport = 'eventsource';
      const extra: Record<string, string> = {};
      if (cursor) extra['lastEventId'] = cursor;
      if (token) extra['token'] = token;
      const types = [...CONTROL, ...(this.opts.eventTypes ?? ['notification'])];
      this.stream = openEventSource(ES, this.url('/events', channels, extra), types, sink);
    } else {
      this.transport = 'fetch';
      this.stream = openFetchStream(
        {
          url: this.url('/events', channels),
          headers: this.headers(token, cursor),
          fetch: this.fetchImpl,
          stallMs: this.opts.stallTimeoutMs ?? 45_000,
          maxEventSize: this.opts.maxEventSize ?? 1 << 20,
        },
        sink,
      );
    }
  }

  /** A stream ended. Decide: reconnect (when, how), fall back to polling, or stop. */
  private closed(err: HeraldClientError | undefined, connected: boolean): void {
    if (!err) {
      // A clean end (replay limit, shutdown): come back after the server's hint.
      return this.schedule(
        this.retryHint ?? this.backoff(),
        'stream-ended',
        'the server ended the stream',
      );
    }
    this.fail(err);
    const status = err.status;
    if (status === 401) {
      if (this.opts.getToken && !this.tokenFresh) {
        this.token = undefined;
        return this.schedule(0, err.code, err.message);
      }
      this.stop();
      return this.setState('disconnected', 'auth', err.message);
    }
    if (status !== undefined && FATAL_STATUS.has(status) && err.code.startsWith('HERALD_ERR_')) {
      this.stop();
      return this.setState('disconnected', err.code, err.message);
    }
    if (!connected) this.failures++;
    if (
      this.opts.transport !== 'fetch' &&
      this.opts.transport !== 'eventsource' &&
      !this.polling &&
      this.failures >= (this.opts.pollAfterFailures ?? 3)
    ) {
      this.polling = true;
      this.pollSince = Date.now();
      this.attempts = 0;
      return this.schedule(0, 'fallback-poll', `streaming failed ${this.failures} times: polling`);
    }
    this.schedule(Math.max(this.backoff(), err.retryAfterMs ?? 0), err.code, err.message);
  }

  /** The long-poll loop: the same cursor, events and resets as the stream. */
  private poll(g: number, channels: string[], token: string | null): void {
    this.transport = 'poll';
    this.streamChans = channels.join(',');
    const ac = new AbortController();
    this.stream = { close: () => ac.abort() };
    const once = async (): Promise<void> => {
      const cursor = this.resumeCursor(channels);
      // The first poll answers at once, so the state says "connected" as soon as it is.
      const first = this.state !== 'connected';
      const res = await this.fetchImpl(this.url('/poll', channels, first ? { wait: '0' } : {}), {
        headers: this.headers(token, cursor),
        credentials: 'include',
        cache: 'no-store',
        signal: ac.signal,
      });
      if (!res.ok) throw await errorFromResponse(res);
      const body = (await res.json().catch(() => {
        throw new HeraldClientError('protocol', 'the poll answer is not JSON', res.status);
      })) as {
        events?: { id?: string; event?: string; channel?: string; data?: string }[];
        resets?: ResetInfo[];
        cursor?: string;
        cursors?: Record<string, string>;
        retryMs?: number;
        more?: boolean;
      };
      if (g !== this.gen) return;
      if (typeof body.cursor !== 'string' || !Array.isArray(body.events))
        throw new HeraldClientError('protocol', 'not a Herald poll answer', res.status);
      // Channels new to the book take every event of this answer, then settle at its cursor.
      this.book.opened(body.cursor, channels, body.cursors, true);
      if (this.state !== 'connected') {
        this.attempts = 0;
        this.setState('connected', 'connected', 'polling');
        this.relay({
          event: 'connected',
          id: body.cursor,
          data: JSON.stringify({ channels, cursors: body.cursors }),
        });
      }
      for (const r of body.resets ?? []) {
        this.book.reset(r.channels, true);
        this.handle({ event: 'reset', data: JSON.stringify(r) }, true);
      }
      for (const e of body.events) {
        const ev: SseEvent = { event: e.event ?? 'message', data: e.data ?? '' };
        if (e.id) ev.id = e.id;
        if (e.channel) ev.channel = e.channel;
        this.handle(ev, true);
        if (g !== this.gen) return;
      }
      this.book.settle();
      if (body.retryMs) this.retryHint = body.retryMs;
      const probe =
        this.opts.transport !== 'poll' &&
        Date.now() - this.pollSince >= (this.opts.streamRetryMs ?? 60_000);
      if (probe && !body.more) {
        // Try the stream again; one failure brings the client straight back to polling.
        this.polling = false;
        this.failures = (this.opts.pollAfterFailures ?? 3) - 1;
        this.pollSince = Date.now();
        return this.open('stream-retry', 'trying to stream again');
      }
      return once();
    };
    once().catch((err: unknown) => {
      if (g !== this.gen) return;
      this.stream = undefined;
      const e =
        err instanceof HeraldClientError
          ? err
          : new HeraldClientError('network', err instanceof Error ? err.message : String(err));
      if (
        e.status === 401 ||
        (e.status !== undefined && FATAL_STATUS.has(e.status) && e.code.startsWith('HERALD_ERR_'))
      )
        return this.closed(e, true);
      this.fail(e);
      this.schedule(Math.max(this.backoff(), e.retryAfterMs ?? 0), e.code, e.message);
    });
  }

  /** Tells the other tabs (when this one leads). */
  private relay(e: SseEvent): void {
    if (this.link?.leader) this.link.post({ k: 'ev', e });
  }

  /**
   * One event from the stream, a poll, or the leader tab. `own`: it came from this tab's own
   * connection (so control events act on it, and it is relayed to the other tabs).
   */
  private handle(e: SseEvent, own: boolean): void {
    if (CONTROL.includes(e.event)) return this.control(e, own);
    let channel = e.channel;
    const streamed = this.streams.accept(channel, e.event, e.data, e.id);
    if (streamed === 'dup') return;
    if (e.id !== undefined && streamed !== 'token') {
      const seen = this.book.accept(durableId(e.id));
      if (!seen.fresh) return;
      channel ??= seen.channel;
    }
    if (own) this.relay(e);
    const ev: HeraldEvent = { type: e.event, data: parseData(e.data), text: e.data };
    if (e.id !== undefined) ev.id = e.id;
    if (channel !== undefined) ev.channel = channel;
    const mine = channel === undefined || this.base_channels.has(channel) || this.subs.has(channel);
    if (!mine) return; // another tab's channel
    this.emit('event', ev);
    if (channel !== undefined) {
      for (const fn of [...(this.subs.get(channel) ?? [])]) {
        try {
          fn(ev);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  private control(e: SseEvent, own: boolean): void {
    const data = parseData(e.data) as Record<string, unknown> | string;
    const d = typeof data === 'object' && data !== null ? data : {};
    switch (e.event) {
      case 'connected': {
        const channels = Array.isArray(d['channels']) ? (d['channels'] as string[]) : [];
        this.book.opened(
          durableId(e.id),
          channels,
          d['cursors'] as Record<string, string> | undefined,
        );
        this.initialCursor = undefined;
        this.lastConnected = e;
        if (own) {
          this.attempts = 0;
          this.failures = 0;
          this.tokenFresh = false;
          this.relay(e);
        }
        return this.setState(
          'connected',
          'connected',
          own ? `streaming over ${this.transport}` : 'following the leader tab',
        );
      }
      case 'reset': {
        const r: ResetInfo = {
          reason: typeof d['reason'] === 'string' ? d['reason'] : 'unknown',
          channels: Array.isArray(d['channels']) ? (d['channels'] as string[]) : [],
        };
        if (r.reason === 'stream-gone') this.streams.forget(r.channels);
        else this.book.reset(r.channels);
        if (own) this.relay(e);
        this.emit('reset', r);
        this.fail(
          new HeraldClientError(
            'reset',
            `cursor not resumed (${r.reason}): ${r.channels.join(',')}`,
          ),
        );
        return;
      }
      case 'token-expired':
        this.token = undefined;
        this.tokenFresh = false;
        this.closeStream();
        this.gen++;
        return this.restart('token-expired', 'the token expired; reconnecting with a fresh one');
      case 'shutdown':
        this.retryHint = typeof d['retryMs'] === 'number' ? d['retryMs'] : this.retryHint;
        this.gen++;
        this.closeStream();
        return this.schedule(
          this.retryHint ?? this.backoff(),
          'server-shutdown',
          'the server is shutting down',
        );
      case 'evicted':
        this.fail(
          new HeraldClientError(
            'HERALD_ERR_TOO_MANY_CONNECTIONS',
            "a newer stream took this one's slot",
          ),
        );
        this.stop();
        return this.setState(
          'disconnected',
          'evicted',
          'a newer stream of this user took the slot',
        );
      default: {
        // stream-error
        const code = typeof d['code'] === 'string' ? d['code'] : 'HERALD_ERR_INTERNAL';
        this.fail(
          new HeraldClientError(
            code as never,
            typeof d['message'] === 'string' ? d['message'] : code,
          ),
        );
        this.gen++;
        this.closeStream();
        return this.schedule(this.backoff(), code, 'the stream failed on the server');
      }
    }
  }

  /** Messages from the other tabs. */
  private fromTab(m: TabMessage): void {
    if (!this.link) return;
    if (m.k === 'ev') {
      if (!this.link.leader) this.handle(m.e, false);
    } else if (m.k === 'st') {
      if (this.link.leader) return;
      this.transport = 'shared';
      if (m.state !== 'connected' && m.state !== 'closed')
        this.setState(
          m.state === 'disconnected' ? 'reconnecting' : (m.state as ConnectionState),
          m.reason?.code ?? 'leader',
          m.reason?.message ?? 'the leader tab changed state',
        );
    } else if (this.link.leader) {
      // hello/subs/bye: the channel union may have changed; a newcomer needs the stream's start.
      if (m.k === 'hello') {
        if (this.lastConnected && this.state === 'connected') this.relay(this.lastConnected);
      }
      this.book.keepOnly(this.streamChannels());
      this.restart('channels-changed', 'another tab changed the channel set');
    }
  }

  private listenToPage(): void {
    if (typeof window === 'undefined' || typeof window.addEventListener !== 'function') return;
    const on = (target: EventTarget, name: string, fn: () => void) => {
      target.addEventListener(name, fn);
      this.cleanups.push(() => target.removeEventListener(name, fn));
    };
    on(window, 'offline', () => {
      if (!this.wanted || (this.link && !this.link.leader)) return;
      this.gen++;
      this.closeStream();
      clearTimeout(this.timer);
      this.setState(
        this.state === 'connecting' ? 'connecting' : 'reconnecting',
        'offline',
        'the device is offline',
      );
    });
    on(window, 'online', () => {
      if (this.wanted && (!this.link || this.link.leader) && !this.stream)
        this.restart('online', 'the device is online');
    });
    // A frozen or hidden-for-bfcache leader must not keep the lock: another tab takes over.
    on(window, 'pagehide', () => {
      this.link?.stop();
      this.link = undefined;
      this.gen++;
      this.closeStream();
    });
    on(window, 'pageshow', () => {
      if (this.wanted && !this.link && this.state !== 'closed') {
        this.wanted = false;
        this.connect();
      }
    });
    if (typeof document !== 'undefined') {
      on(document, 'freeze', () => {
        if (this.link?.leader) {
          this.gen++;
          this.closeStream();
          this.link.resign(true);
        }
      });
      on(document, 'visibilitychange', () => {
        if (!this.wanted || this.link) return;
        if (document.hidden && this.opts.pauseWhenHidden) {
          this.gen++;
          this.closeStream();
          clearTimeout(this.timer);
          this.setState('disconnected', 'hidden', 'paused while the page is hidden');
        } else if (!document.hidden && !this.stream) this.restart('visible', 'the page is visible');
      });
    }
  }
}
