import type { HeraldEvent } from '@herald/client';
import { shallowRef, toValue, watch, type MaybeRefOrGetter, type Ref } from 'vue';
import { useHeraldClient } from './plugin.js';
import { useHerald, type UseHeraldResult } from './use-herald.js';

export interface UseChannelOptions {
  /** `false` subscribes to nothing (default true); may be a ref. */
  enabled?: MaybeRefOrGetter<boolean>;
  /** Where to start: `now` (default) or a channel cursor (`herald.channelCursor(channel)`). */
  since?: string;
}

/**
 * Calls `onEvent` for every event of `channel`, exactly once each. `channel` may be a ref or
 * a getter: when it changes, the old channel is unsubscribed and the new one subscribed (the
 * client reconnects with the cursor of every channel it keeps, so nothing is lost on them; the
 * new channel starts at "now"). `null` or `''` subscribes to nothing. The subscription ends
 * when the calling scope is disposed; the last unsubscribe of a channel drops it from the
 * stream. Returns the connection's state.
 */
export function useChannel<T = unknown>(
  channel: MaybeRefOrGetter<string | null | undefined>,
  onEvent: (event: HeraldEvent<T>) => void,
  options: UseChannelOptions = {},
): UseHeraldResult {
  const client = useHeraldClient();
  if (client) {
    // One watcher, so one subscription at a time: its cleanup runs before the next change
    // subscribes again and when the scope is disposed.
    watch(
      () => [toValue(channel), toValue(options.enabled) ?? true] as const,
      ([name, enabled], _old, onCleanup) => {
        if (!name || !enabled) return;
        const sub = client.subscribe(
          name,
          (e: HeraldEvent) => onEvent(e as HeraldEvent<T>),
          options.since ? { since: options.since } : undefined,
        );
        onCleanup(() => sub.unsubscribe());
      },
      { immediate: true },
    );
  }
  return useHerald();
}

export interface UseEventsOptions {
  /** How many events to keep, newest last (default 100). */
  max?: number;
  /** Only events of these types. */
  types?: readonly string[];
}

export interface UseEventsResult<T> {
  readonly events: Readonly<Ref<readonly HeraldEvent<T>[]>>;
  readonly connection: UseHeraldResult;
  clear(): void;
}

/**
 * The latest events of several channels (newest last, at most `max`), for logs, tickers and
 * debugging views. `channels` may be a ref; each event appears once (the client de-duplicates).
 */
export function useEvents<T = unknown>(
  channels: MaybeRefOrGetter<readonly string[]>,
  options: UseEventsOptions = {},
): UseEventsResult<T> {
  const client = useHeraldClient();
  const events = shallowRef<readonly HeraldEvent<T>[]>([]);
  const max = options.max ?? 100;
  const wanted = options.types ? new Set(options.types) : null;
  if (client) {
    watch(
      () => [...toValue(channels)].sort().join(','),
      (key, _old, onCleanup) => {
        if (key === '') return;
        const add = (e: HeraldEvent) => {
          if (wanted && !wanted.has(e.type)) return;
          const next = [...events.value, e as HeraldEvent<T>];
          events.value = next.length > max ? next.slice(next.length - max) : next;
        };
        const subs = key.split(',').map((ch) => client.subscribe(ch, add));
        onCleanup(() => subs.forEach((s) => s.unsubscribe()));
      },
      { immediate: true },
    );
  }
  return {
    events,
    connection: useHerald(),
    clear: () => (events.value = []),
  };
}
