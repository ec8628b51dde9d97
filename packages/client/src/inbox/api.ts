/**
 * Herald's HTTP API for the hooks (inbox, summaries, preferences, publishing): one `request`
 * that adds the credential the provider was given (a bearer token from `getToken`, or the
 * cookie session with its CSRF header) and turns the error catalogue's answers into
 * `HeraldApiError`s. It holds no connection of its own: streams go through @herald/client.
 */

export type GetToken = () => string | null | Promise<string | null>;

/** An error answer of Herald (`{ "error": { "code", "message", "detail" } }`) or the network. */
export class HeraldApiError extends Error {
  override readonly name = 'HeraldApiError';
  constructor(
    /** `HERALD_ERR_*` from the catalogue, or `network`. */
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly detail?: string,
  ) {
    super(message);
  }
}

export interface HeraldApiOptions {
  /** Herald's base URL; default: the page's origin. */
  url?: string;
  /** The user's token; null or absent: the cookie session (`POST /auth/cookie`). */
  getToken?: GetToken;
  /** A credential sent as `X-Herald-Key` instead (an API key, for admin tools). */
  apiKey?: string;
  /**
   * Called with the error of every 401 answer, before the call rejects with it: the credential
   * stopped working (an expired token, a revoked key), so an app can sign out. Default: none.
   */
  onUnauthorized?: (error: HeraldApiError) => void;
  fetch?: typeof fetch;
}

function readCookie(name: string): string | null {
  if (typeof document === 'undefined') return null;
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

/** `?a=1&b=x,y` from a query object; undefined values are left out, arrays joined by commas. */
export function queryString(q: Query | undefined): string {
  if (!q) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    params.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export class HeraldApi {
  private readonly base: string;

  constructor(private readonly options: HeraldApiOptions = {}) {
    this.base = (options.url ?? '').replace(/\/+$/, '');
  }

  /** The absolute URL of a path of Herald's, with a query. */
  url(path: string, query?: Query): string {
    return this.base + path + queryString(query);
  }

  /**
   * The credential headers of a request (for streams opened outside `request`). A cookie
   * session sends the double-submit `X-Herald-CSRF` header on every method: Herald's inbox
   * routes take the `herald_token` cookie only with it, on reads as well as changes.
   */
  async credentials(): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    if (this.options.apiKey) headers['x-herald-key'] = this.options.apiKey;
    else {
      const token = this.options.getToken ? await this.options.getToken() : null;
      if (token) headers['authorization'] = `Bearer ${token}`;
      else {
        const csrf = readCookie('herald_csrf');
        if (csrf) headers['x-herald-csrf'] = csrf;
      }
    }
    return headers;
  }

  /** The `fetch` this API calls (the one it was given, else the global one). */
  get fetch(): typeof fetch {
    return this.options.fetch ?? ((...a) => fetch(...a));
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    query?: Query,
  ): Promise<T> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(await this.credentials()),
    };
    if (body !== undefined || method === 'POST' || method === 'PUT') {
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await this.fetch(this.url(path, query), {
        method,
        headers,
        credentials: 'same-origin',
        ...(body !== undefined || method === 'POST' || method === 'PUT'
          ? { body: JSON.stringify(body ?? {}) }
          : {}),
      });
    } catch (err) {
      throw new HeraldApiError('network', err instanceof Error ? err.message : String(err));
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string; detail?: string } })?.error;
      const error = new HeraldApiError(
        e?.code ?? 'HERALD_ERR_HTTP',
        e?.message ?? `HTTP ${res.status}`,
        res.status,
        e?.detail,
      );
      if (res.status === 401) this.options.onUnauthorized?.(error);
      throw error;
    }
    return json as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, undefined, query);
  }
  post<T>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, body ?? {}, query);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  delete<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, undefined, query);
  }
}
