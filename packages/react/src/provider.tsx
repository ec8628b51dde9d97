import { Herald, type HeraldOptions } from '@herald/client';
import { HeraldApi, type GetToken } from '@herald/client/inbox';
import { createContext, useContext, useEffect, useMemo, useRef, type ReactNode } from 'react';

/** What the hooks below a `HeraldProvider` share. */
export interface HeraldContextValue {
  /** The app's one client; null while rendering on a server (no streams there). */
  readonly client: Herald | null;
  /** Herald's HTTP API with the same credential (inbox, summaries, preferences). */
  readonly api: HeraldApi;
}

export interface HeraldProviderProps {
  /** Herald's base URL (default: the page's origin). */
  url?: string;
  /** The user's token; null or absent: the cookie session. The latest prop is always used. */
  getToken?: GetToken;
  /** Channels the stream opens with (the hooks add theirs). */
  channels?: readonly string[];
  /** One connection for every tab of the origin (default true in browsers). */
  shared?: boolean;
  /** An API key for the HTTP calls (`X-Herald-Key`), for admin tools; streams do not use it. */
  apiKey?: string;
  /** Any other client option (transport, backoff, …) for the client made for you. */
  options?: Omit<HeraldOptions, 'url' | 'getToken' | 'channels' | 'shared' | 'autoConnect'>;
  /** A client you made yourself: the provider neither connects nor closes it. */
  client?: Herald;
  /** `fetch` for the HTTP calls and the client (tests, Node). */
  fetch?: typeof fetch;
  children?: ReactNode;
}

const HeraldContext = createContext<HeraldContextValue | null>(null);

/**
 * One Herald client and one HeraldApi for everything below it. The client it makes is made
 * once per set of connection props (`url`, `channels`, `shared`), never on a server, and
 * connects when the provider mounts (a client made by a render React then drops, as
 * StrictMode's double render does, has touched nothing: a client registers nothing until it
 * connects). It is closed one tick after the provider unmounts,
 * unless the provider mounts again first: React's StrictMode unmounts and remounts every
 * effect once, and must not cost a second connection.
 */
export function HeraldProvider(props: HeraldProviderProps): ReactNode {
  const tokenRef = useRef(props.getToken);
  tokenRef.current = props.getToken;
  const hasToken = props.getToken !== undefined;
  const { url, shared, apiKey, client: given, options } = props;
  const doFetch = props.fetch;
  const channelsKey = (props.channels ?? []).join(',');

  const value = useMemo<HeraldContextValue & { owned: Herald | null }>(() => {
    const getToken: GetToken | undefined = hasToken
      ? () => (tokenRef.current ? tokenRef.current() : null)
      : undefined;
    const owned =
      given || typeof window === 'undefined'
        ? null
        : new Herald({
            ...options,
            ...(url !== undefined ? { url } : {}),
            ...(getToken ? { getToken } : {}),
            ...(shared !== undefined ? { shared } : {}),
            ...(doFetch ? { fetch: doFetch } : {}),
            channels: channelsKey ? channelsKey.split(',') : [],
            autoConnect: false,
          });
    const api = new HeraldApi({
      ...(url !== undefined ? { url } : {}),
      ...(getToken ? { getToken } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(doFetch ? { fetch: doFetch } : {}),
    });
    return { client: given ?? owned, api, owned };
    // `options` is read once per client: a new object each render must not make a new client.
  }, [given, url, shared, apiKey, doFetch, channelsKey, hasToken]);

  const owned = value.owned;
  useEffect(() => {
    if (!owned) return;
    const pending = closing.get(owned);
    if (pending !== undefined) clearTimeout(pending);
    closing.delete(owned);
    owned.connect();
    return () => {
      closing.set(
        owned,
        setTimeout(() => {
          closing.delete(owned);
          owned.close();
        }, 0),
      );
    };
  }, [owned]);

  const shown = useMemo(() => ({ client: value.client, api: value.api }), [value]);
  return <HeraldContext.Provider value={shown}>{props.children}</HeraldContext.Provider>;
}

/** Clients whose provider unmounted, closed on the next tick unless it mounts again. */
const closing = new WeakMap<Herald, ReturnType<typeof setTimeout>>();

/** The nearest provider's client and API; throws a clear error when there is none. */
export function useHeraldContext(): HeraldContextValue {
  const value = useContext(HeraldContext);
  if (!value) throw new Error('Herald hooks need a <HeraldProvider> above them');
  return value;
}

/** The app's Herald client (null while rendering on a server). */
export function useHeraldClient(): Herald | null {
  return useHeraldContext().client;
}

/** The HTTP API with the provider's credential (inbox, preferences, publishing). */
export function useHeraldApi(): HeraldApi {
  return useHeraldContext().api;
}
