/** The TC39 / RxJS interop shape: `from(herald.events())` works in RxJS, zen-observable, …. */
export interface Observer<T> {
  next?(value: T): void;
  error?(err: unknown): void;
  complete?(): void;
}
export interface Subscription {
  unsubscribe(): void;
  readonly closed: boolean;
}
export interface Observable<T> {
  subscribe(observer?: Observer<T> | ((value: T) => void)): Subscription;
  [Symbol.observable](): Observable<T>;
}

declare global {
  interface SymbolConstructor {
    readonly observable: symbol;
  }
}

/** `Symbol.observable` where a polyfill made it, else the `@@observable` string RxJS also reads. */
export const observableSymbol: typeof Symbol.observable =
  (typeof Symbol === 'function' && Symbol.observable) || ('@@observable' as never);

/** An Observable over a listener registration that returns its own removal. */
export function observable<T>(listen: (emit: (v: T) => void) => () => void): Observable<T> {
  const o = {
    subscribe(observer?: Observer<T> | ((value: T) => void)): Subscription {
      const next = typeof observer === 'function' ? observer : observer?.next?.bind(observer);
      const off = listen((v) => next?.(v));
      const sub = {
        closed: false,
        unsubscribe() {
          if (sub.closed) return;
          sub.closed = true;
          off();
        },
      };
      return sub;
    },
    [observableSymbol]() {
      return o;
    },
  };
  return o;
}
