/**
 * The user's session: who is signed in and with what credential. The token lives in
 * sessionStorage only (gone when the tab closes; never in a URL, a log or localStorage);
 * a cookie session keeps no token here at all, only the user id, since the HttpOnly
 * `herald_token` cookie carries the credential.
 */

export type SessionMode = 'dev' | 'token' | 'cookie';

export interface Session {
  readonly mode: SessionMode;
  readonly userId: string;
  /** The bearer token; null for a cookie session. */
  readonly token: string | null;
  /** ms since the epoch, when known. */
  readonly expiresAt: number | null;
  /** Extra channels the token may read (grants), when known. */
  readonly grants: readonly string[];
}

const KEY = 'herald.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (s.expiresAt !== null && s.expiresAt <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

/** What a token says about itself (its payload, read without verifying: the server does that). */
export interface TokenFacts {
  readonly sub: string | null;
  readonly expiresAt: number | null;
  readonly channels: readonly string[];
  readonly publish: readonly string[];
  readonly admin: boolean;
}

function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Reads a JWT's claims; null when the text is not a JWT at all. */
export function tokenFacts(token: string): TokenFacts | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const bytes = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const json = new TextDecoder().decode(Uint8Array.from(bytes, (c) => c.charCodeAt(0)));
    const p = JSON.parse(json) as Record<string, unknown>;
    return {
      sub: typeof p['sub'] === 'string' && p['sub'] !== '' ? p['sub'] : null,
      expiresAt: typeof p['exp'] === 'number' ? p['exp'] * 1000 : null,
      channels: list(p['channels']),
      publish: list(p['publish']),
      admin: p['admin'] === true,
    };
  } catch {
    return null;
  }
}

/** What is missing from a token for the user app, in words a person can act on. */
export function tokenProblems(facts: TokenFacts | null): string[] {
  if (!facts) return ['This is not a JWT (three base64url parts separated by dots).'];
  const problems: string[] = [];
  if (!facts.sub) problems.push('The token has no "sub" claim: the app needs a user id.');
  if (facts.expiresAt !== null && facts.expiresAt <= Date.now())
    problems.push('The token has expired: ask for a new one.');
  return problems;
}

/** Does a grant list let the token read `channel`? (Same rules as the server's grants.) */
export function grantAllows(grants: readonly string[], channel: string): boolean {
  return grants.some((g) =>
    g.endsWith(':*')
      ? channel.length > g.length - 1 && channel.startsWith(g.slice(0, -1))
      : g === channel,
  );
}

/** The cookie session's user, remembered across tabs (not a secret: the cookie is). */
const COOKIE_USER = 'herald.cookieUser';

export function rememberCookieUser(userId: string | null): void {
  if (userId) localStorage.setItem(COOKIE_USER, userId);
  else localStorage.removeItem(COOKIE_USER);
}

export function cookieUser(): string | null {
  return localStorage.getItem(COOKIE_USER);
}

/** A `herald_csrf` cookie is readable while a cookie session may still be alive. */
export function hasCookieSession(): boolean {
  return document.cookie.split(';').some((c) => c.trim().startsWith('herald_csrf='));
}
