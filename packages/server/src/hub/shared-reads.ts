import type { Store, StoredEvent } from '../store/store.js';

/**
 * One store read for every replay that asks for the same page at the same time. In a
 * reconnect storm on a shared channel, the clients that were on it together come back with
 * the same cursor, and each would run the same `readAfter` query; with this the first one
 * runs it and the others wait for its rows (the rows are read only, and their frames come
 * from ReplayFrames). Nothing is kept once a read settles: a later replay reads afresh, so
 * it sees what was appended since, and a failed read fails only the replays waiting on it.
 */
export class SharedReads {
  private readonly inflight = new Map<string, Promise<readonly StoredEvent[]>>();

  constructor(private readonly store: Pick<Store, 'readAfter'>) {}

  /** Reads in flight now (for tests). */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * `store.readAfter(channel, after, limit)`, shared with an identical read in flight that
   * was started at the same `head`: the last sequence this node has delivered on the channel.
   * A replay's session is on the channel before it reads, so it gets live every event
   * delivered after that; an equal head means none was delivered since the shared read began,
   * so whatever that read misses still reaches the session live. Without a head (the channel
   * not started yet) the read is not shared.
   */
  readAfter(
    channel: string,
    after: number,
    limit: number,
    head: number | undefined,
  ): Promise<readonly StoredEvent[]> {
    if (head === undefined) return this.store.readAfter(channel, after, limit);
    const key = `${head} ${after} ${limit} ${channel}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const read = this.store.readAfter(channel, after, limit).finally(() => {
      this.inflight.delete(key);
    });
    this.inflight.set(key, read);
    return read;
  }
}
