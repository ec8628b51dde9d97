import { HeraldError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** Errors already reported by a BackendHealth, and by which: handlers log them at debug only. */
const reported = new WeakMap<object, 'store' | 'broker'>();

/**
 * True when `err` came from a store or broker operation whose failure was already reported
 * (logged once, counted, reflected in `herald_backend_up`). Request handlers use it to keep
 * an outage from producing one error line per request.
 */
export function isReportedBackendError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && reported.has(err);
}

/**
 * The documented error for a request that failed on a backend: the broker's code when the
 * broker reported `err`, the store's otherwise (the store is what most requests need).
 */
export function backendUnavailable(err: unknown): HeraldError {
  const backend = typeof err === 'object' && err !== null ? reported.get(err) : undefined;
  return new HeraldError(
    backend === 'broker' ? 'HERALD_ERR_BROKER_UNAVAILABLE' : 'HERALD_ERR_STORE_UNAVAILABLE',
  );
}

export interface BackendHealthOptions {
  readonly backend: 'store' | 'broker';
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Checks the backend (its ping); called while it is down until it succeeds. */
  readonly probe: () => Promise<void>;
  /** How often to probe while down, ms. Default 2000. */
  readonly probeMs?: number;
}

/**
 * The up/down state of one backend, driven by the outcome of its operations.
 *
 * An outage is logged once when it starts (`store unavailable` / `broker unavailable`, level
 * error) and once when it ends (`store recovered` / `broker recovered`, level info, with how
 * long it lasted), never once per failed request. While down, the backend is probed every
 * couple of seconds so the recovery is noticed (and logged, and the gauge set back) even
 * when no traffic arrives. Only an operation that started after the outage was noticed may
 * end it: one that was already in flight and succeeds late proves nothing.
 */
export class BackendHealth {
  private isUp = true;
  private downSince = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private armed = false;
  private closed = false;

  constructor(private readonly options: BackendHealthOptions) {}

  get up(): boolean {
    return this.isUp;
  }

  /** An operation that started at `startedAt` (Date.now()) succeeded. */
  succeeded(startedAt: number): void {
    if (this.isUp || startedAt < this.downSince) return;
    this.isUp = true;
    this.stopProbe();
    this.options.metrics.backendUp(this.options.backend, true);
    this.options.log.info(
      { backend: this.options.backend, downMs: Date.now() - this.downSince },
      `${this.options.backend} recovered`,
    );
  }

  /** An operation (or the connection, op "connection") failed with `err`. */
  failed(op: string, err: unknown): void {
    if (typeof err === 'object' && err !== null) reported.set(err, this.options.backend);
    if (!this.isUp || this.closed) return;
    this.isUp = false;
    this.downSince = Date.now();
    this.options.metrics.backendUp(this.options.backend, false);
    this.options.log.error(
      { backend: this.options.backend, op, err },
      `${this.options.backend} unavailable`,
    );
    if (this.armed) this.startProbe();
  }

  /**
   * Allows probing; called once the server has started. A server that fails to start
   * reports the failure and exits (or the test moves on) without leaving a timer behind.
   */
  arm(): void {
    this.armed = true;
    if (!this.isUp && !this.closed) this.startProbe();
  }

  /** Stops probing; called when the server closes. */
  close(): void {
    this.closed = true;
    this.stopProbe();
  }

  private startProbe(): void {
    if (this.probeTimer) return;
    this.probeTimer = setInterval(() => {
      if (this.probing) return;
      this.probing = true;
      this.options
        .probe()
        .catch(() => undefined)
        .finally(() => (this.probing = false));
    }, this.options.probeMs ?? 2000);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }
}

/**
 * True for errors about the connection itself (Node system errors such as ECONNREFUSED or
 * ECONNRESET, and PostgreSQL's SQLSTATE-coded errors), as opposed to, say, a malformed
 * message on the broker, which says nothing about reachability.
 */
export function isConnectionError(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
  );
}
