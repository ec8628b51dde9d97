import type { Herald, Reason, TransportKind } from '@herald/client';
import { computed, onScopeDispose, shallowRef, type ComputedRef, type Ref } from 'vue';
import { useHeraldClient } from './plugin.js';

/** The transport in use (`shared`: this tab follows another tab's connection). */
export type Transport = TransportKind;
export type { Reason };

interface Base {
  /** The transport in use (`shared`: this tab follows another tab's connection). */
  readonly transport: Transport | null;
  /** Why the last change of state happened. */
  readonly reason: Reason | null;
  /** The composite cursor of the last durable event seen (as of the last change of state). */
  readonly cursor: string | null;
  readonly channels: readonly string[];
}

/** The connection, as a union discriminated on `status` (the same as `@herald/react`'s). */
export type HeraldStatus =
  | (Base & { readonly status: 'connecting' })
  | (Base & { readonly status: 'connected'; readonly transport: Transport })
  | (Base & { readonly status: 'reconnecting'; readonly reason: Reason | null })
  | (Base & { readonly status: 'disconnected' })
  | (Base & { readonly status: 'closed' });

export interface UseHeraldResult {
  /** The whole state, one object per change: `if (state.value.status === 'connected') …`. */
  readonly state: Readonly<Ref<HeraldStatus>>;
  readonly status: ComputedRef<HeraldStatus['status']>;
  readonly transport: ComputedRef<Transport | null>;
  readonly reason: ComputedRef<Reason | null>;
  readonly channels: ComputedRef<readonly string[]>;
  /** The client itself, for what the composables do not cover (null on a server). */
  readonly client: Herald | null;
  connect(): void;
  disconnect(): void;
}

const SERVER: HeraldStatus = {
  status: 'disconnected',
  transport: null,
  reason: null,
  cursor: null,
  channels: [],
};

function snapshotOf(client: Herald): HeraldStatus {
  return {
    status: client.state,
    transport: client.transport ?? null,
    reason: client.reason ?? null,
    cursor: client.cursor ?? null,
    channels: client.channels,
  } as HeraldStatus;
}

/**
 * The connection's state as reactive refs, updated on every change: `status` (`connecting`,
 * `connected`, `reconnecting`, `disconnected`, `closed`), the transport, the reason of the
 * last change. One `state` listener per call, removed when the calling scope is disposed
 * (the component unmounts, or an `effectScope` stops).
 */
export function useHerald(): UseHeraldResult {
  const client = useHeraldClient();
  const state = shallowRef<HeraldStatus>(client ? snapshotOf(client) : SERVER);
  if (client) {
    const off = client.on('state', () => (state.value = snapshotOf(client)));
    onScopeDispose(off);
  }
  return {
    state,
    status: computed(() => state.value.status),
    transport: computed(() => state.value.transport),
    reason: computed(() => state.value.reason),
    channels: computed(() => state.value.channels),
    client,
    connect: () => client?.connect(),
    disconnect: () => client?.disconnect(),
  };
}
