import {
  AlertStream,
  type Alert,
  type AlertStreamState,
  type HeraldApiError,
  type InboxSummary,
} from '@herald/client/inbox';
import { useMemo } from 'react';
import { useHeraldContext } from './provider.js';
import { useLiveStore } from './use-live-store.js';

export interface UseAlertStreamOptions {
  /** A feed's channel (such as `alerts`); default: the user's own inbox. */
  feed?: string;
  /** Wait before opening again after the stream ended (default 3000). */
  retryMs?: number;
  /** Most alerts kept (default 10000). */
  max?: number;
}

export interface UseAlertStreamResult {
  /** `connecting` until the snapshot is in; `connected`; `reconnecting`; `disconnected`. */
  readonly status: AlertStreamState['status'];
  readonly reason: AlertStreamState['reason'];
  /** Unacked by severity, unread by category; null until the first `summary`. */
  readonly summary: InboxSummary | null;
  /** Historical then new, newest first, acks applied live. */
  readonly alerts: readonly Alert[];
  /** When the last live alert arrived (ms since the epoch), for a bell that pulses. */
  readonly lastNewAt: number | null;
  /** The last ack that failed (its optimistic change was undone). */
  readonly actionError: HeraldApiError | null;
  /** Acknowledges one alert for everyone who sees it. */
  ack(id: string): Promise<void>;
}

/**
 * Seed 003's alert stream (`GET /alerts/stream`, its own connection): `summary`, then
 * `historical` (the last hour, at most 100), then live `new_event`, `ack_event` and
 * `summary`; a reconnect (after 3 s) gets a fresh snapshot. Nothing on a server.
 */
export function useAlertStream(options: UseAlertStreamOptions = {}): UseAlertStreamResult {
  const { api } = useHeraldContext();
  const { feed, retryMs, max } = options;
  const stream = useMemo(
    () =>
      new AlertStream(api, {
        ...(feed ? { feed } : {}),
        ...(retryMs !== undefined ? { retryMs } : {}),
        ...(max !== undefined ? { max } : {}),
      }),
    [api, feed, retryMs, max],
  );
  // Effects never run on a server, so rendering there opens nothing.
  const state = useLiveStore(stream);
  const ack = useMemo(() => (id: string) => stream.ack(id), [stream]);
  return { ...state, ack };
}
