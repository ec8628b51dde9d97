import type { Herald, Reason, TransportKind } from '@herald/client';
import { useCallback, useRef, useSyncExternalStore } from 'react';
import { useHeraldClient } from './provider.js';

/** The transport in use (`shared`: this tab follows another tab's connection). */
export type Transport = TransportKind;
export type { Reason };

interface Base {
  /** The transport in use (`shared`: this tab follows another tab's connection). */
  readonly transport: Transport | null;
  /** Why the last change of state happened. */
  readonly reason: Reason | null;
  /** This tab's channels on the stream. */
  readonly channels: readonly string[];
  /** The client itself, for what the hooks do not cover (null on a server). */
  readonly client: Herald | null;
}

/** The connection, as a union discriminated on `status` (the same as `@herald/vue`'s). */
export type HeraldStatus =
  | (Base & { readonly status: 'connecting' })
  | (Base & { readonly status: 'connected'; readonly transport: Transport })
  | (Base & { readonly status: 'reconnecting' })
  | (Base & { readonly status: 'disconnected' })
  | (Base & { readonly status: 'closed' });

const SERVER: HeraldStatus = {
  status: 'disconnected',
  transport: null,
  reason: null,
  channels: [],
  client: null,
};

function same(a: HeraldStatus, b: HeraldStatus): boolean {
  return (
    a.status === b.status &&
    a.transport === b.transport &&
    a.reason?.code === b.reason?.code &&
    a.reason?.message === b.reason?.message &&
    a.channels.join(',') === b.channels.join(',') &&
    a.client === b.client
  );
}

/**
 * The connection's state, one object per change: `if (herald.status === 'connected') …`.
 * One `state` listener per component, removed when it unmounts.
 */
export function useHerald(): HeraldStatus {
  const client = useHeraldClient();
  const last = useRef<HeraldStatus>(SERVER);
  const subscribe = useCallback(
    (onChange: () => void) => (client ? client.on('state', onChange) : () => undefined),
    [client],
  );
  const snapshot = useCallback((): HeraldStatus => {
    if (!client) return SERVER;
    const next = {
      status: client.state,
      transport: client.transport ?? null,
      reason: client.reason ?? null,
      channels: client.channels,
      client,
    } as HeraldStatus;
    if (!same(last.current, next)) last.current = next;
    return last.current;
  }, [client]);
  return useSyncExternalStore(subscribe, snapshot, () => SERVER);
}
