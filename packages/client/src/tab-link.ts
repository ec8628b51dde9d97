import type { SseEvent } from './sse-parser.js';

/** What tabs of one origin say to each other over their BroadcastChannel. */
export type TabMessage =
  | { k: 'hello' | 'subs'; from: string; ch: string[] }
  | { k: 'bye'; from: string }
  | { k: 'ev'; e: SseEvent }
  | { k: 'st'; state: string; reason: { code: string; message: string } | null };

export interface TabHooks {
  /** This tab holds the leadership now: open the stream. */
  lead(): void;
  /** This tab lost it (only with the lease fallback, when another tab took over). */
  follow(): void;
  /** A leader's event or state, or a change of the other tabs' channels. */
  message(m: TabMessage): void;
}

const LEASE_MS = 3000;

/**
 * Leader election among the tabs of one origin, for one Herald URL. With the Web Locks API
 * the leader is whoever holds an exclusive lock: the browser hands it to the next waiting tab
 * the moment the holder closes, crashes or releases it, so there is never more than one.
 * Without it (old Safari), a lease in localStorage renewed every second and taken over when
 * it is 3 s stale: a handover takes up to 4 s, and two tabs may both lead for up to a second
 * (each tab still drops copies by position, so nobody sees an event twice).
 */
export class TabLink {
  readonly id = Math.random().toString(36).slice(2);
  leader = false;
  /** Other tabs and their channels. */
  readonly peers = new Map<string, string[]>();
  private readonly bc: BroadcastChannel;
  private release: (() => void) | undefined;
  private abort: AbortController | undefined;
  private lease: ReturnType<typeof setInterval> | undefined;

  static available(): boolean {
    return (
      typeof BroadcastChannel === 'function' &&
      typeof navigator !== 'undefined' &&
      (!!navigator.locks || typeof localStorage !== 'undefined')
    );
  }

  constructor(
    private readonly name: string,
    private readonly hooks: TabHooks,
    private readonly own: () => string[],
  ) {
    this.bc = new BroadcastChannel(name);
    this.bc.onmessage = (m: MessageEvent<TabMessage>) => this.receive(m.data);
    this.post({ k: 'hello', from: this.id, ch: own() });
    this.elect();
  }

  post(m: TabMessage): void {
    this.bc.postMessage(m);
  }

  /** Tells the other tabs this tab's channels (after subscribe/unsubscribe). */
  announce(): void {
    this.post({ k: 'subs', from: this.id, ch: this.own() });
  }

  /** Gives the leadership up and queues for it again (a frozen tab must not hold it). */
  resign(requeue: boolean): void {
    this.leader = false;
    this.release?.();
    this.release = undefined;
    this.abort?.abort();
    clearInterval(this.lease);
    if (typeof localStorage !== 'undefined' && !navigator.locks) {
      const v = this.readLease();
      if (v?.id === this.id) localStorage.removeItem(this.name);
    }
    if (requeue) this.elect();
  }

  /** Leaves for good: the other tabs forget this tab's channels. */
  stop(): void {
    this.resign(false);
    this.post({ k: 'bye', from: this.id });
    this.bc.close();
  }

  private elect(): void {
    if (navigator.locks) {
      const ac = (this.abort = new AbortController());
      navigator.locks
        .request(this.name, { signal: ac.signal }, () => {
          return new Promise<void>((resolve) => {
            this.release = resolve;
            this.leader = true;
            this.hooks.lead();
          });
        })
        .catch(() => {
          // aborted: this tab left the queue
        });
      return;
    }
    const tick = () => {
      const v = this.readLease();
      const now = Date.now();
      if (!v || v.until < now || v.id === this.id) {
        localStorage.setItem(this.name, JSON.stringify({ id: this.id, until: now + LEASE_MS }));
        if (!this.leader) {
          this.leader = true;
          this.hooks.lead();
        }
      } else if (this.leader) {
        this.leader = false;
        this.hooks.follow();
      }
    };
    tick();
    this.lease = setInterval(tick, 1000);
  }

  private readLease(): { id: string; until: number } | null {
    try {
      return JSON.parse(localStorage.getItem(this.name) ?? 'null') as never;
    } catch {
      return null;
    }
  }

  private receive(m: TabMessage): void {
    if (m.k === 'hello' || m.k === 'subs') {
      this.peers.set(m.from, m.ch);
      // A newcomer learns everyone's channels (and the leader's state) from the answers.
      if (m.k === 'hello') this.announce();
    } else if (m.k === 'bye') this.peers.delete(m.from);
    this.hooks.message(m);
  }
}
