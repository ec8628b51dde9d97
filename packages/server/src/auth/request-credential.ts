import type { FastifyRequest } from 'fastify';

export type CredentialSource = 'header' | 'api-key-header' | 'cookie' | 'query';

export const TOKEN_COOKIE = 'herald_token';

function cookieValue(header: string | undefined, name: string): string | undefined {
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

/**
 * Finds the caller's credential. `allowAmbient` admits the cookie and the `?token=` query
 * fallback: only the read-only stream route sets it. State-changing routes accept only
 * headers a browser never attaches on its own, which is what keeps them immune to CSRF.
 */
export function requestCredential(
  req: FastifyRequest,
  allowAmbient: boolean,
): { value: string; source: CredentialSource } | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) {
    return { value: auth.replace(/^Bearer\s+/i, '').trim(), source: 'header' };
  }
  const key = req.headers['x-herald-key'];
  if (typeof key === 'string' && key !== '') return { value: key, source: 'api-key-header' };
  if (!allowAmbient) return undefined;
  const cookie = cookieValue(req.headers.cookie, TOKEN_COOKIE);
  if (cookie) return { value: cookie, source: 'cookie' };
  const query = (req.query as Record<string, unknown> | undefined)?.['token'];
  if (typeof query === 'string' && query !== '') return { value: query, source: 'query' };
  return undefined;
}
