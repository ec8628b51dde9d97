/**
 * A value that changes, for the frameworks' bindings: `state` is an immutable snapshot,
 * replaced (never mutated) on each change, so React's `useSyncExternalStore` and Vue's
 * `shallowRef` see a new object exactly when something changed.
 */
export class SnapshotStore<S extends object> {
  private readonly listeners = new Set<() => void>();

  constructor(private current: S) {}

  get state(): S {
    return this.current;
  }

  /** Calls `fn` after every change; returns its removal. Bound, so it can be passed as is. */
  readonly subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** How many listeners are registered (tests check it returns to zero). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  protected update(patch: Partial<S>): void {
    this.current = { ...this.current, ...patch };
    for (const fn of [...this.listeners]) fn();
  }
}
