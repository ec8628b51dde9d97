import type { FastifyRequest } from 'fastify';

export type CredentialSource = 'header' | 'api-key-header' | 'cookie' | 'query';

export const TOKEN_COOKIE = 'herald_token';

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return undefined;
}

export const CSRF_COOKIE = 'herald_csrf';
export const CSRF_HEADER = 'x-herald-csrf';

/**
 * Which credentials a route accepts:
 * - `stream`: header, cookie, or `?token=` (read-only SSE; EventSource cannot set headers);
 * - `cookie-csrf`: header, or the cookie when the request also proves it came from our own
 *   page (see `csrfOk`): for user actions from a browser such as marking a notification read;
 * - `header`: headers only (publishing, admin): a browser never attaches these on its own,
 *   which is what makes those routes immune to CSRF.
 * `true`/`false` mean `stream`/`header`.
 */
export type CredentialMode = 'stream' | 'cookie-csrf' | 'header' | boolean;

/**
 * Double-submit check for cookie-authenticated changes: the `X-Herald-CSRF` header must
 * equal the `herald_csrf` cookie (a cross-site page can neither read that cookie nor send a
 * custom header without passing CORS), and an `Origin`, when sent, must be this server or an
 * allowed CORS origin.
 */
export function csrfOk(req: FastifyRequest, allowedOrigins: readonly string[]): boolean {
  const header = req.headers[CSRF_HEADER];
  const cookie = cookieValue(req.headers.cookie, CSRF_COOKIE);
  if (typeof header !== 'string' || !cookie || header.length < 16 || header !== cookie)
    return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const self = `${req.protocol}://${req.headers.host ?? ''}`;
  return origin === self || allowedOrigins.includes(origin);
}

/** Finds the caller's credential as `mode` allows (see CredentialMode). */
export function requestCredential(
  req: FastifyRequest,
  mode: CredentialMode,
): { value: string; source: CredentialSource } | undefined {
  const m = mode === true ? 'stream' : mode === false ? 'header' : mode;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) {
    return { value: auth.replace(/^Bearer\s+/i, '').trim(), source: 'header' };
  }
  const key = req.headers['x-herald-key'];
  if (typeof key === 'string' && key !== '') return { value: key, source: 'api-key-header' };
  if (m === 'header') return undefined;
  const cookie = cookieValue(req.headers.cookie, TOKEN_COOKIE);
  if (cookie) return { value: cookie, source: 'cookie' };
  if (m !== 'stream') return undefined;
  const query = (req.query as Record<string, unknown> | undefined)?.['token'];
  if (typeof query === 'string' && query !== '') return { value: query, source: 'query' };
  return undefined;
}
