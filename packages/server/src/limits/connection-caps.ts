import { HeraldError } from '../errors.js';
import type { Session } from '../sse/session.js';
import { addressSubject } from './client-ip.js';

export interface ConnectionCapSettings {
  /** Most open streams per user id on this node (0: no cap). */
  readonly perUser: number;
  /** Most open streams per client address on this node (0: no cap). */
  readonly perAddress: number;
  /** Most open streams on this node (0: no cap). */
  readonly total: number;
  /** Over a per-user or per-address cap: refuse the new stream, or close the oldest one. */
  readonly policy: 'refuse' | 'evict-oldest';
}

/**
 * An evicted EventSource reconnects by itself, and its reconnect would evict the next oldest
 * stream of the same user: two tabs over the cap would take turns forever. So the evicted
 * stream is told to wait this long before reconnecting (clients that read the `evicted`
 * event should not reconnect at all).
 */
export const EVICTED_RETRY_MS = 30_000;

/**
 * `Retry-After` of a refusal, in seconds. A slot of the same user or address frees up only
 * when one of its own streams ends, so retrying soon just spends the connect budget; a full
 * node may have room again (or the load balancer picks another node) in a few seconds.
 */
const RETRY_AFTER_SEC = { subject: String(EVICTED_RETRY_MS / 1000), node: '5' } as const;

/**
 * Caps on open streams per user, per client address and per node. Counts are per node: a
 * stream is a socket on one node, and a count kept elsewhere would outlive a crashed node's
 * sockets. Behind a load balancer a user may hold up to the cap on each node.
 *
 * Streams are tracked in insertion order, so "oldest" is a set's first entry; a stream
 * leaves through `remove` (the session's close callback), whatever closed it.
 *
 * `admit` and `add` must run in one synchronous stretch (no `await` between them): that is
 * what keeps two streams opening at the same moment from both taking the last slot.
 */
export class ConnectionCaps {
  private readonly byUser = new Map<string, Streams>();
  private readonly byAddress = new Map<string, Streams>();
  private readonly addressOf = new Map<Session, string>();

  constructor(
    private readonly settings: ConnectionCapSettings,
    /** Counts refusals: `connections-user`, `connections-address`, `connections-node`. */
    private readonly onRefused: (limit: string) => void = () => {},
  ) {}

  /** Open streams counted on this node. */
  get size(): number {
    return this.addressOf.size;
  }

  /** Streams of one user id on this node. */
  countUser(userId: string): number {
    return count(this.byUser.get(userId));
  }

  /** Streams of one client address (IPv6: its /64) on this node. */
  countAddress(ip: string): number {
    return count(this.byAddress.get(addressSubject(ip)));
  }

  /**
   * Decides whether a new stream of `userId` from `ip` may open. Throws 429
   * `HERALD_ERR_TOO_MANY_CONNECTIONS` when it may not; under `evict-oldest`, returns the
   * streams to close once the new one is added (see `evict`).
   */
  admit(userId: string | undefined, ip: string): Session[] {
    const { perUser, perAddress, total, policy } = this.settings;
    const victims = new Set<Session>();
    const over = (set: Streams | undefined, cap: number, what: string) => {
      if (cap <= 0 || !set) return;
      let excess = count(set) - cap + 1;
      if (excess <= 0) return;
      if (policy === 'refuse') {
        this.onRefused('connections-user');
        throw new HeraldError('HERALD_ERR_TOO_MANY_CONNECTIONS', `${what}: at most ${cap}`, {
          'Retry-After': RETRY_AFTER_SEC.subject,
        });
      }
      for (const s of each(set)) {
        if (excess <= 0) break;
        if (!victims.has(s)) victims.add(s);
        excess--;
      }
    };
    if (userId !== undefined) over(this.byUser.get(userId), perUser, 'per-user');
    const subject = addressSubject(ip);
    const addressSet = this.byAddress.get(subject);
    if (perAddress > 0 && addressSet) {
      // Streams of this address already chosen for the user cap free address slots too.
      let shared = 0;
      for (const v of victims) if (this.addressOf.get(v) === subject) shared++;
      const left = count(addressSet) - shared;
      if (left >= perAddress) {
        if (policy === 'refuse') {
          this.onRefused('connections-address');
          throw new HeraldError(
            'HERALD_ERR_TOO_MANY_CONNECTIONS',
            `per-address: at most ${perAddress}`,
            { 'Retry-After': RETRY_AFTER_SEC.subject },
          );
        }
        let excess = left - perAddress + 1;
        for (const s of each(addressSet)) {
          if (excess <= 0) break;
          if (victims.has(s)) continue;
          victims.add(s);
          excess--;
        }
      }
    }
    // The node-wide cap protects the process itself (descriptors, memory): evicting some
    // other user's stream to make room would be arbitrary, so it always refuses.
    if (total > 0 && this.size - victims.size >= total) {
      this.onRefused('connections-node');
      throw new HeraldError('HERALD_ERR_TOO_MANY_CONNECTIONS', `per-node: at most ${total}`, {
        'Retry-After': RETRY_AFTER_SEC.node,
      });
    }
    return [...victims];
  }

  /** Counts a stream admitted by `admit`. */
  add(session: Session, ip: string): void {
    const subject = addressSubject(ip);
    this.addressOf.set(session, subject);
    addTo(this.byAddress, subject, session);
    if (session.userId !== undefined) addTo(this.byUser, session.userId, session);
  }

  /** Forgets a stream; safe to call more than once. */
  remove(session: Session): void {
    const subject = this.addressOf.get(session);
    if (subject === undefined) return;
    this.addressOf.delete(session);
    removeFrom(this.byAddress, subject, session);
    if (session.userId !== undefined) removeFrom(this.byUser, session.userId, session);
  }

  /**
   * Closes streams chosen by `admit`: each gets an `evicted` event saying why and a long
   * retry hint, then ends (its close callback calls `remove`).
   */
  evict(victims: readonly Session[]): void {
    for (const s of victims) {
      if (s.isClosed) continue;
      // A stream still setting up has not sent its head: send it, so the client reads a
      // well-formed stream with the reason rather than a bare answer.
      if (!s.isOpen) s.open();
      s.writeControl(
        'evicted',
        {
          code: 'HERALD_ERR_TOO_MANY_CONNECTIONS',
          reason: 'newer-connection',
          retryMs: EVICTED_RETRY_MS,
        },
        false,
      );
      s.writeRetry(EVICTED_RETRY_MS);
      s.close('evicted');
    }
  }
}

/**
 * The streams of one user or one address, oldest first: the stream itself while it is the
 * only one (the usual case for a user: a Set costs about 150 bytes), else a Set.
 */
type Streams = Session | Set<Session>;

function count(streams: Streams | undefined): number {
  if (streams === undefined) return 0;
  return streams instanceof Set ? streams.size : 1;
}

function each(streams: Streams): Iterable<Session> {
  return streams instanceof Set ? streams : [streams];
}

function addTo(map: Map<string, Streams>, key: string, s: Session): void {
  const streams = map.get(key);
  if (streams === undefined) map.set(key, s);
  else if (streams instanceof Set) streams.add(s);
  else if (streams !== s) map.set(key, new Set([streams, s]));
}

function removeFrom(map: Map<string, Streams>, key: string, s: Session): void {
  const streams = map.get(key);
  if (streams === undefined) return;
  if (!(streams instanceof Set)) {
    if (streams === s) map.delete(key);
    return;
  }
  streams.delete(s);
  if (streams.size === 0) map.delete(key);
}
