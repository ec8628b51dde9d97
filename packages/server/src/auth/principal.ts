import { anyGrantMatches } from './grants.js';

/** Who is asking, and what they may do. Built only from a verified token or a known key. */
export interface Principal {
  readonly kind: 'token' | 'api-key';
  /** The user id (`sub`), owner of the channel `user:{sub}`. */
  readonly userId: string | undefined;
  /** Extra channels this principal may read (grants, see grants.ts). */
  readonly subscribe: readonly string[];
  /** May read every channel (a "*" grant, honoured only with wildcardGrant). */
  readonly subscribeAll: boolean;
  /** Channels this principal may publish to (grants). */
  readonly publish: readonly string[];
  /** May publish to every channel: configured API keys, or a "*" grant with wildcardGrant. */
  readonly publishAll: boolean;
  /** May use the admin API (`admin: true` token claim, an admin API key, or a configured key). */
  readonly admin: boolean;
  /** Stable, non-secret id of the API key (rate limits, logs); undefined for tokens. */
  readonly keyId: string | undefined;
  /** Token expiry in ms since the epoch. */
  readonly expiresAt: number | undefined;
}

/**
 * The principal of an API key: it reads no channel, publishes to `publish` (every channel
 * with 'all': the configured keys) and may use the admin API with `admin`.
 */
export function apiKeyPrincipal(
  keyId: string,
  publish: readonly string[] | 'all',
  admin: boolean,
): Principal {
  return {
    kind: 'api-key',
    userId: undefined,
    subscribe: [],
    subscribeAll: false,
    publish: publish === 'all' ? [] : publish,
    publishAll: publish === 'all',
    admin,
    keyId,
    expiresAt: undefined,
  };
}

export function canSubscribe(
  p: Principal,
  channel: string,
  publicChannels: readonly string[],
): boolean {
  if (p.userId !== undefined && channel === `user:${p.userId}`) return true;
  if (p.subscribeAll || publicChannels.includes(channel)) return true;
  return anyGrantMatches(p.subscribe, channel);
}

export function canPublish(p: Principal, channel: string): boolean {
  return p.publishAll || anyGrantMatches(p.publish, channel);
}
