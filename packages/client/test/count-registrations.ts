import type { Herald } from '@herald/client';

/**
 * For the framework bindings' test pages (bundled into the browser): wraps a client's `on`
 * and `subscribe` so that `counts` says how many registrations are live, and a test can see
 * every one of them return to zero.
 */
export function countRegistrations(
  client: Herald,
  counts: { on: number; subscriptions: number },
): void {
  const on = client.on.bind(client);
  const subscribe = client.subscribe.bind(client);
  client.on = (what: never, fn: never) => {
    counts.on++;
    const off = on(what, fn);
    let done = false;
    return () => {
      if (!done) counts.on--;
      done = true;
      return off();
    };
  };
  client.subscribe = (channel: string, fn: never, opts?: never) => {
    counts.subscriptions++;
    const sub = subscribe(channel, fn, opts);
    let done = false;
    return {
      unsubscribe() {
        if (!done) counts.subscriptions--;
        done = true;
        sub.unsubscribe();
      },
    };
  };
}
