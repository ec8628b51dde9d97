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

/**
 * A SnapshotStore that follows something live between `start()` and `stop()`: `open` begins
 * one run and returns what ends it. `start()` again after `stop()` begins afresh (React's
 * StrictMode runs an effect, its cleanup, and the effect again); `refresh()` ends the run and
 * begins a new one. `run` changes with every start and stop, so an answer that arrives for
 * an older run can tell and is dropped.
 */
export abstract class RunningStore<S extends object> extends SnapshotStore<S> {
  protected run = 0;
  private stopRun: (() => void) | null = null;

  /** Begins a run (with `this.run` already new); returns its end. */
  protected abstract open(): () => void;

  /** Whether the store can run at all (false without a client: rendering on a server). */
  protected get runnable(): boolean {
    return true;
  }

  get running(): boolean {
    return this.stopRun !== null;
  }

  start(): void {
    if (this.stopRun || !this.runnable) return;
    this.run++;
    this.stopRun = this.open();
  }

  stop(): void {
    this.run++;
    const stop = this.stopRun;
    this.stopRun = null;
    stop?.();
  }

  /** Ends the run and begins a new one (when started). */
  refresh(): void {
    if (!this.stopRun) return;
    this.stop();
    this.start();
  }
}
