import type { Herald, HeraldEvent } from '../herald.js';

/** Whether an event's channel carries the signed-in user's own inbox. */
function isUserInboxChannel(channel: string | undefined): boolean {
  return channel === 'broadcast' || (channel?.startsWith('user:') ?? false);
}

/**
 * Follows the live events of one inbox: a feed's channel (subscribed for as long as the
 * caller follows it), or the user's own inbox (`user:{id}` and `broadcast`, which the
 * client's stream already carries). `onReset` runs when the stream could not resume those
 * channels, so the caller reloads; it also runs once at the first `connected` after following
 * starts, because a list read before the stream was live (or before a new feed joined it)
 * can miss what was sent in between. Returns the function that stops both.
 */
export function followInbox(
  client: Herald,
  feed: string | undefined,
  onEvent: (e: HeraldEvent) => void,
  onReset: () => void,
): () => void {
  const stops: (() => void)[] = [];
  if (feed) {
    const sub = client.subscribe(feed, onEvent);
    stops.push(() => sub.unsubscribe());
  } else {
    stops.push(client.on('event', (e) => isUserInboxChannel(e.channel) && onEvent(e)));
  }
  let live = false;
  stops.push(
    client.on('state', ({ state }) => {
      if (state !== 'connected' || live) return;
      live = true;
      onReset();
    }),
  );
  stops.push(
    client.on('reset', (r) => {
      const mine = feed
        ? r.channels.includes(feed)
        : r.channels.length === 0 || r.channels.some(isUserInboxChannel);
      if (mine) onReset();
    }),
  );
  return () => stops.forEach((stop) => stop());
}
