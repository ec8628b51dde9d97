/**
 * The admin dashboard's credential and its one way to call Herald. The credential (an admin
 * API key or an admin token) lives in sessionStorage: it survives a reload of the tab but not
 * the tab itself, and is never shared with the user app, which keeps its own token.
 */

export type AdminCredential = { kind: 'key'; value: string } | { kind: 'token'; value: string };

const STORAGE_KEY = 'herald.admin.credential';

export function loadCredential(): AdminCredential | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const c = JSON.parse(raw) as AdminCredential;
    return (c.kind === 'key' || c.kind === 'token') && typeof c.value === 'string' ? c : null;
  } catch {
    return null;
  }
}

export function saveCredential(c: AdminCredential | null): void {
  if (c) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(c));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** A refused or failed call, with Herald's error code when it sent one. */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Dispatched on window when Herald answers 401 to the stored credential. */
export const CREDENTIAL_REFUSED = 'herald-admin-credential-refused';

export function authHeaders(c: AdminCredential): Record<string, string> {
  return c.kind === 'key' ? { 'x-herald-key': c.value } : { authorization: `Bearer ${c.value}` };
}

/** Calls Herald with the admin credential; resolves with the JSON answer (undefined on 204). */
export async function adminRequest<T>(
  c: AdminCredential,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = authHeaders(c);
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new AdminApiError(0, 'NETWORK', 'Herald cannot be reached');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    // The credential stopped working (expired token, revoked key): the dashboard signs out.
    if (res.status === 401) window.dispatchEvent(new Event(CREDENTIAL_REFUSED));
    const e = (json as { error?: { code?: string; message?: string; detail?: string } })?.error;
    const message = [e?.message, e?.detail].filter(Boolean).join(': ') || `HTTP ${res.status}`;
    throw new AdminApiError(res.status, e?.code ?? `HTTP_${res.status}`, message);
  }
  return json as T;
}

/** Checks that a credential is an admin's; resolves with a sentence saying why not, or null. */
export async function checkAdmin(c: AdminCredential): Promise<string | null> {
  try {
    await adminRequest(c, 'GET', '/admin/stats?top=0&limit=0');
    return null;
  } catch (e) {
    if (!(e instanceof AdminApiError)) throw e;
    if (e.code === 'HERALD_ERR_FORBIDDEN_ADMIN') {
      return 'This credential is valid but not an admin: the dashboard needs an admin API key or a token with "admin": true.';
    }
    if (e.status === 401)
      return `Herald did not accept this ${c.kind === 'key' ? 'key' : 'token'}.`;
    return e.message;
  }
}

export const errorText = (e: unknown): string =>
  e instanceof Error ? e.message : 'something went wrong';
