import type { HeraldClientError } from '../errors.js';
import type { Reason } from '../herald.js';
import type { SseEvent } from '../sse-parser.js';
import { openFetchStream } from '../transport.js';
import type { HeraldApi, HeraldApiError } from './api.js';
import {
  compareNewestFirst,
  patchOfEvent,
  type InboxSummary,
  type Notification,
} from './notification.js';
import { SnapshotStore } from './snapshot-store.js';

/** An alert is an inbox notification (usually with a `severity`). */
export type Alert = Notification;

export interface AlertStreamState {
  /**
   * `connecting` until the snapshot (`summary`, `historical`) is in, then `connected`;
   * `reconnecting` while waiting to open again (a reconnect gets a fresh snapshot);
   * `disconnected` when the server refused the stream for good (see `reason`) or after stop.
   */
  readonly status: 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
  readonly reason: Reason | null;
  /** The latest summary: unacked by severity, unread by category. */
  readonly summary: InboxSummary | null;
  /** `historical` then every `new_event`, newest first, acks applied. */
  readonly alerts: readonly Alert[];
  /** When the last live `new_event` arrived (ms since the epoch), for a bell that pulses. */
  readonly lastNewAt: number | null;
  /** The last ack that failed (its optimistic change was undone). */
  readonly actionError: HeraldApiError | null;
}

export interface AlertStreamOptions {
  /** A feed's channel (such as `alerts`); default: the user's own inbox. */
  feed?: string;
  /** Wait before opening again after the stream ended (default 3000, seed 003's). */
  retryMs?: number;
  /** Most alerts kept, the oldest dropped first (default 10000). */
  max?: number;
  /** A stream silent this long (pings included) is dropped and reopened (default 45000). */
  stallTimeoutMs?: number;
}

/** A refusal that retrying cannot cure: bad input, forbidden, unknown route. */
const FATAL = new Set([400, 401, 403, 404]);

/**
 * Seed 003's alert stream, `GET /alerts/stream`: on every connect a fresh snapshot
 * (`summary`, then `historical`), then live `new_event`, `ack_event` and `summary`. The server
 * holds live events while it writes the snapshot and skips a `new_event` already in
 * `historical`, so the list here simply takes what comes: replace on snapshot, insert or
 * replace by id on `new_event`, patch on `ack_event`. `ack(id)` marks it at once and posts
 * `POST /events/{id}/ack`; every viewer (this one included) then gets `ack_event`.
 */
export class AlertStream extends SnapshotStore<AlertStreamState> {
  private run = 0;
  private stream: { close(): void } | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retryHint: number | undefined;
  private started = false;

  constructor(
    private readonly api: HeraldApi,
    private readonly options: AlertStreamOptions = {},
  ) {
    super({
      status: 'disconnected',
      reason: null,
      summary: null,
      alerts: [],
      lastNewAt: null,
      actionError: null,
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.update({ status: 'connecting', reason: null });
    this.open();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.run++;
    clearTimeout(this.timer);
    this.stream?.close();
    this.stream = null;
    this.update({ status: 'disconnected', reason: { code: 'stopped', message: 'stopped' } });
  }

  /** Acknowledges one alert, for everyone who sees it. */
  async ack(id: string): Promise<void> {
    const before = this.state.alerts.find((a) => a.id === id);
    const patch = { acked: true, ackedAt: new Date().toISOString() };
    this.patch(new Set([id]), patch);
    this.update({ actionError: null });
    try {
      await this.api.post(
        `/events/${encodeURIComponent(id)}/ack`,
        {},
        { channel: this.options.feed },
      );
    } catch (err) {
      if (before) this.patch(new Set([id]), { acked: before.acked, ackedAt: before.ackedAt });
      this.update({ actionError: err as HeraldApiError });
    }
  }

  private open(): void {
    const run = ++this.run;
    const live = () => run === this.run;
    void this.api.credentials().then(
      (headers) => {
        if (!live()) return;
        this.stream = openFetchStream(
          {
            url: this.api.url('/alerts/stream', { channel: this.options.feed }),
            headers,
            fetch: this.api.fetch,
            stallMs: this.options.stallTimeoutMs ?? 45_000,
            maxEventSize: 1 << 22,
          },
          {
            opened: () => undefined,
            retry: (ms) => (this.retryHint = ms),
            event: (e) => live() && this.handle(e),
            closed: (err) => live() && this.closed(err),
          },
        );
      },
      (err: unknown) => live() && this.later({ code: 'auth', message: String(err) }),
    );
  }

  private handle(e: SseEvent): void {
    const data = parse(e.data);
    switch (e.event) {
      case 'summary':
        return this.update({ summary: data as InboxSummary });
      case 'historical': {
        const events = (data as { events?: Alert[] } | null)?.events ?? [];
        return this.update({
          alerts: [...events].sort(compareNewestFirst).slice(0, this.max),
          status: 'connected',
          reason: { code: 'connected', message: 'snapshot received' },
        });
      }
      case 'new_event': {
        const a = data as Alert | null;
        if (!a || typeof a.id !== 'string') return;
        const rest = this.state.alerts.filter((x) => x.id !== a.id);
        rest.push(a);
        return this.update({
          alerts: rest.sort(compareNewestFirst).slice(0, this.max),
          lastNewAt: Date.now(),
        });
      }
      case 'ack_event': {
        const d = (data ?? {}) as Record<string, unknown>;
        const ids = Array.isArray(d['ids']) ? (d['ids'] as string[]) : [];
        const patch = patchOfEvent('ack_event', d);
        if (patch) this.patch(new Set(ids), patch);
        return;
      }
      case 'shutdown': {
        const ms = (data as { retryMs?: unknown } | null)?.retryMs;
        if (typeof ms === 'number') this.retryHint = ms;
        return;
      }
    }
  }

  private closed(err: HeraldClientError | undefined): void {
    this.stream = null;
    if (err?.status !== undefined && FATAL.has(err.status)) {
      this.started = false;
      return this.update({
        status: 'disconnected',
        reason: { code: err.code, message: err.message },
      });
    }
    this.later(
      err
        ? { code: err.code, message: err.message }
        : { code: 'stream-ended', message: 'the server ended the stream' },
    );
  }

  private later(reason: Reason): void {
    this.update({ status: 'reconnecting', reason });
    clearTimeout(this.timer);
    const run = this.run;
    this.timer = setTimeout(
      () => run === this.run && this.open(),
      this.retryHint ?? this.options.retryMs ?? 3000,
    );
  }

  private get max(): number {
    return this.options.max ?? 10_000;
  }

  private patch(ids: Set<string>, patch: Partial<Alert>): void {
    this.update({ alerts: this.state.alerts.map((a) => (ids.has(a.id) ? { ...a, ...patch } : a)) });
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
