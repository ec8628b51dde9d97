import type { HeraldEvent } from '@herald/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useHeraldClient } from './provider.js';

export interface UseChannelOptions {
  /** Where to start: `now` (default) or a channel cursor (`client.channelCursor(channel)`). */
  since?: string;
}

/**
 * Calls `onEvent` for every event of `channel`, exactly once each. The latest `onEvent` is
 * always the one called (it is kept in a ref, so an inline function does not resubscribe).
 * A change of `channel` unsubscribes the old one and subscribes the new one (the client
 * reconnects with the cursor of every channel it keeps, so nothing is lost on them); `null`
 * or `''` subscribes to nothing. The subscription ends when the component unmounts.
 */
export function useChannel<T = unknown>(
  channel: string | null | undefined,
  onEvent: (event: HeraldEvent<T>) => void,
  options: UseChannelOptions = {},
): void {
  const client = useHeraldClient();
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const since = options.since;
  useEffect(() => {
    if (!client || !channel) return;
    const sub = client.subscribe(
      channel,
      (e: HeraldEvent) => handler.current(e as HeraldEvent<T>),
      since ? { since } : undefined,
    );
    return () => sub.unsubscribe();
  }, [client, channel, since]);
}

export interface UseEventsOptions {
  /** How many events to keep, newest last (default 100). */
  max?: number;
  /** Only events of these types. */
  types?: readonly string[];
}

export interface UseEventsResult<T> {
  /** The latest events of the channels, newest last. */
  readonly events: readonly HeraldEvent<T>[];
  readonly clear: () => void;
}

/**
 * The latest events of several channels (newest last, at most `max`), for logs, tickers and
 * debugging views. Each event appears once (the client de-duplicates); the channels are
 * compared by value, so a new array of the same names does not resubscribe.
 */
export function useEvents<T = unknown>(
  channels: readonly string[],
  options: UseEventsOptions = {},
): UseEventsResult<T> {
  const [events, setEvents] = useState<readonly HeraldEvent<T>[]>([]);
  const max = options.max ?? 100;
  const types = options.types;
  useChannels(channels, (e) => {
    if (types && !types.includes(e.type)) return;
    setEvents((old) => {
      const next = [...old, e as HeraldEvent<T>];
      return next.length > max ? next.slice(next.length - max) : next;
    });
  });
  const clear = useCallback(() => setEvents([]), []);
  return { events, clear };
}

/**
 * Calls `onEvent` (the latest one) for every event of several channels, each subscribed
 * while the component is mounted. The list is compared by value.
 */
export function useChannels(
  channels: readonly string[],
  onEvent: (event: HeraldEvent) => void,
): void {
  const client = useHeraldClient();
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = [...new Set(channels)].sort().join(',');
  useEffect(() => {
    if (!client || key === '') return;
    const subs = key.split(',').map((ch) => client.subscribe(ch, (e) => handler.current(e)));
    return () => subs.forEach((s) => s.unsubscribe());
  }, [client, key]);
}
