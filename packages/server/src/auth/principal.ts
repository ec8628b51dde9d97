import { anyGrantMatches } from './grants.js';

/** Who is asking, and what they may do. Built only from a verified token or a known key. */
export interface Principal {
  readonly kind: 'token' | 'api-key';
  /** The user id (`sub`), owner of the channel `user:{sub}`. */
  readonly userId: string | undefined;
  /** Extra channels this principal may read (grants, see grants.ts). */
  readonly subscribe: readonly string[];
  /** Channels this principal may publish to (grants). */
  readonly publish: readonly string[];
  /** True only for configured API keys: may publish to every channel. */
  readonly publishAll: boolean;
  /** Token expiry in ms since the epoch. */
  readonly expiresAt: number | undefined;
}

export function canSubscribe(
  p: Principal,
  channel: string,
  publicChannels: readonly string[],
): boolean {
  if (p.userId !== undefined && channel === `user:${p.userId}`) return true;
  if (publicChannels.includes(channel)) return true;
  return anyGrantMatches(p.subscribe, channel);
}

export function canPublish(p: Principal, channel: string): boolean {
  return p.publishAll || anyGrantMatches(p.publish, channel);
}
