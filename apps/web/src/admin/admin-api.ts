import { HeraldApi, HeraldApiError } from '@herald/client/inbox';

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

/** Dispatched on window when Herald answers 401 to the stored credential. */
export const CREDENTIAL_REFUSED = 'herald-admin-credential-refused';

/**
 * Herald's API with the admin credential. A 401 means the credential stopped working (an
 * expired token, a revoked key): the dashboard signs out.
 */
export function adminApi(c: AdminCredential): HeraldApi {
  return new HeraldApi({
    ...(c.kind === 'key' ? { apiKey: c.value } : { getToken: () => c.value }),
    onUnauthorized: () => window.dispatchEvent(new Event(CREDENTIAL_REFUSED)),
  });
}

/** Checks that a credential is an admin's; resolves with a sentence saying why not, or null. */
export async function checkAdmin(c: AdminCredential): Promise<string | null> {
  try {
    await adminApi(c).get('/admin/stats', { top: 0, limit: 0 });
    return null;
  } catch (e) {
    if (!(e instanceof HeraldApiError)) throw e;
    if (e.code === 'HERALD_ERR_FORBIDDEN_ADMIN') {
      return 'This credential is valid but not an admin: the dashboard needs an admin API key or a token with "admin": true.';
    }
    if (e.status === 401)
      return `Herald did not accept this ${c.kind === 'key' ? 'key' : 'token'}.`;
    return errorText(e);
  }
}

/** What a failed call shows: Herald's message and detail, or that it cannot be reached. */
export function errorText(e: unknown): string {
  if (e instanceof HeraldApiError) {
    if (e.code === 'network') return 'Herald cannot be reached';
    return [e.message, e.detail].filter(Boolean).join(': ');
  }
  return e instanceof Error ? e.message : 'something went wrong';
}
