import { useEffect, useSyncExternalStore } from 'react';

/** A store of @herald/client/inbox: a snapshot, a subscribe, and a run to start and stop. */
export interface LiveStore<S> {
  readonly state: S;
  readonly subscribe: (fn: () => void) => () => void;
  start(): void;
  stop(): void;
}

/**
 * A store's snapshot as React state: the store runs while the component is mounted (started
 * in an effect, stopped in its cleanup, so StrictMode's extra unmount and mount leave one
 * run) and every change renders. Stores are made in `useMemo` without side effects; a new
 * store (new filter, new feed) stops the old one.
 */
export function useLiveStore<S>(store: LiveStore<S>): S {
  useEffect(() => {
    store.start();
    return () => store.stop();
  }, [store]);
  const read = () => store.state;
  return useSyncExternalStore(store.subscribe, read, read);
}
