import { Herald, type HeraldOptions } from '@herald/client';
import { inject, onScopeDispose, provide, type App, type InjectionKey } from 'vue';
import { HeraldApi, type GetToken } from '@herald/client/inbox';

/** What the composables below `createHerald` / `provideHerald` share. */
export interface HeraldContext {
  /** The app's one client; null while rendering on a server (no streams there). */
  readonly client: Herald | null;
  /** Herald's HTTP API with the same credential (inbox, summaries, preferences). */
  readonly api: HeraldApi;
}

export interface HeraldSetup {
  /** A client you made yourself (then it is neither connected nor closed for you). */
  client?: Herald;
  /** Options for the client made for you (when `client` is not given). */
  options?: HeraldOptions;
  /** Herald's base URL for the HTTP calls (default: `options.url`, else the page's origin). */
  url?: string;
  /** The user's token for the HTTP calls (default: `options.getToken`; none: the cookie session). */
  getToken?: GetToken;
  /** `fetch` for the HTTP calls (default: `options.fetch`, else the global one). */
  fetch?: typeof fetch;
}

/** The plugin `createHerald` returns: `app.use(herald)`, and the client for code outside components. */
export interface HeraldPlugin extends HeraldContext {
  install(app: App): void;
}

export const HERALD_KEY: InjectionKey<HeraldContext> = Symbol('herald');

/**
 * One context from a setup: the client is made only in a browser (never at import time, never
 * on a server), without connecting; `start` connects it when it is ours and autoConnect is not
 * false, `stop` closes it when it is ours.
 */
function makeContext(setup: HeraldSetup): HeraldContext & { start: () => void; stop: () => void } {
  const owned =
    setup.client || typeof window === 'undefined'
      ? null
      : new Herald({ ...setup.options, autoConnect: false });
  const client = setup.client ?? owned;
  const url = setup.url ?? setup.options?.url;
  const getToken = setup.getToken ?? setup.options?.getToken;
  const doFetch = setup.fetch ?? setup.options?.fetch;
  const api = new HeraldApi({
    ...(url ? { url } : {}),
    ...(getToken ? { getToken } : {}),
    ...(doFetch ? { fetch: doFetch } : {}),
  });
  return {
    client,
    api,
    start: () => {
      if (owned && setup.options?.autoConnect !== false) owned.connect();
    },
    stop: () => owned?.close(),
  };
}

/**
 * The app-wide plugin: `createApp(App).use(createHerald({ options: { channels: ['alerts'] } }))`.
 * The client it makes connects on `install` and closes when the app unmounts.
 */
export function createHerald(setup: HeraldSetup = {}): HeraldPlugin {
  const ctx = makeContext(setup);
  return {
    client: ctx.client,
    api: ctx.api,
    install(app: App) {
      app.provide(HERALD_KEY, { client: ctx.client, api: ctx.api });
      ctx.start();
      // `onUnmount` is Vue 3.5's; on older versions the owner closes `plugin.client` itself.
      (app as App & { onUnmount?: (fn: () => void) => void }).onUnmount?.(ctx.stop);
    },
  };
}

/**
 * The same inside a component's `setup()`: a client for that component's subtree (a widget
 * embedded in a page that is not a Vue app of its own), closed when the component unmounts.
 */
export function provideHerald(setup: HeraldSetup = {}): HeraldContext {
  const ctx = makeContext(setup);
  const value = { client: ctx.client, api: ctx.api };
  provide(HERALD_KEY, value);
  ctx.start();
  onScopeDispose(ctx.stop);
  return value;
}

/** The nearest Herald context; throws a clear error when there is none. */
export function useHeraldContext(): HeraldContext {
  const value = inject(HERALD_KEY, null);
  if (!value) {
    throw new Error(
      'Herald composables need app.use(createHerald(...)) or provideHerald() above them',
    );
  }
  return value;
}

/** The app's Herald client (null while rendering on a server). */
export function useHeraldClient(): Herald | null {
  return useHeraldContext().client;
}

/** The HTTP API with the app's credential (inbox, preferences, publishing). */
export function useHeraldApi(): HeraldApi {
  return useHeraldContext().api;
}
