import { HeraldApi, HeraldApiError } from '@herald/client/inbox';
import { useEffect, useState, type FormEvent } from 'react';
import {
  cookieUser,
  grantAllows,
  hasCookieSession,
  rememberCookieUser,
  tokenFacts,
  tokenProblems,
  type Session,
} from '../lib/session.js';

/** What each part of the app needs from a token beyond the user's own channel. */
const NEEDS = [
  { channel: 'alerts', view: 'the event browser' },
  { channel: 'votes', view: 'the votes demo' },
  { channel: 'chat:lobby', view: 'the chat demo' },
  { channel: 'ai:lobby', view: 'the AI answer demo' },
];

function message(err: unknown): string {
  if (err instanceof HeraldApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Checks a credential by reading the user's summary with it: the server has the last word. */
async function check(api: HeraldApi): Promise<void> {
  await api.get('/notifications/summary');
}

/**
 * Sign-in. In dev mode any user id gets a token from `POST /dev/token`. Otherwise the app
 * takes a token the operator's backend issued (or continues a cookie session) and says what
 * is missing from it: no user, expired, or the grants a view needs.
 */
export function SignIn({ dev, onSignedIn }: { dev: boolean; onSignedIn: (s: Session) => void }) {
  const [userId, setUserId] = useState('');
  const [token, setToken] = useState('');
  const [useCookie, setUseCookie] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [cookieSession, setCookieSession] = useState<string | null>(null);

  useEffect(() => {
    const user = cookieUser();
    if (user && hasCookieSession()) setCookieSession(user);
  }, []);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  const devSignIn = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const r = await new HeraldApi().post<{ token: string; userId: string; expiresIn: number }>(
        '/dev/token',
        { userId: userId.trim() },
      );
      onSignedIn({
        mode: 'dev',
        userId: r.userId,
        token: r.token,
        expiresAt: Date.now() + r.expiresIn * 1000,
        grants: tokenFacts(r.token)?.channels ?? [],
      });
    });
  };

  const tokenSignIn = (e: FormEvent) => {
    e.preventDefault();
    const value = token.trim();
    const facts = tokenFacts(value);
    const blocking = tokenProblems(facts);
    setProblems(blocking);
    if (blocking.length > 0 || !facts?.sub) return;
    const sub = facts.sub;
    void run(async () => {
      const api = new HeraldApi({ getToken: () => value });
      await check(api);
      if (useCookie) {
        await api.post('/auth/cookie');
        rememberCookieUser(sub);
      }
      onSignedIn({
        mode: useCookie ? 'cookie' : 'token',
        userId: sub,
        token: useCookie ? null : value,
        expiresAt: facts.expiresAt,
        grants: facts.channels,
      });
    });
  };

  const continueCookie = (user: string) =>
    void run(async () => {
      await check(new HeraldApi());
      onSignedIn({ mode: 'cookie', userId: user, token: null, expiresAt: null, grants: [] });
    });

  const facts = token.trim() ? tokenFacts(token.trim()) : null;
  const missing = facts?.sub ? NEEDS.filter((n) => !grantAllows(facts.channels, n.channel)) : [];

  return (
    <main className="signin">
      <div className="card">
        <div className="row">
          <span className="brand">
            <span className="brand-mark" aria-hidden="true">
              H
            </span>
            Herald
          </span>
        </div>
        <div className="stack" style={{ gap: 8 }}>
          <h1>Sign in</h1>
          <p className="muted">
            Your notifications, alerts and live demos, delivered the moment they happen.
          </p>
        </div>
        {error ? (
          <p className="error-box" role="alert">
            {error}
          </p>
        ) : null}
        {cookieSession ? (
          <button
            type="button"
            className="btn"
            disabled={busy}
            onClick={() => continueCookie(cookieSession)}
          >
            Continue as {cookieSession} (cookie session)
          </button>
        ) : null}
        {dev ? (
          <form onSubmit={devSignIn} aria-label="Dev sign-in">
            <p className="note-box small">
              Dev mode: pick any user id; the server mints a token for it (
              <code>POST /dev/token</code>).
            </p>
            <label className="field">
              <span>User id</span>
              <input
                className="input"
                value={userId}
                onChange={(e) => setUserId(e.target.value)}
                placeholder="alice"
                autoComplete="username"
                required
                pattern="[A-Za-z0-9_.@\-]{1,64}"
                title="1-64 letters, digits, _ . @ or -"
              />
            </label>
            <button type="submit" className="btn btn-primary" disabled={busy}>
              Sign in
            </button>
          </form>
        ) : (
          <p className="note-box small" data-testid="production-note">
            This server is not in dev mode, so it mints no tokens. Paste a token your application
            issued: a JWT signed with Herald&apos;s secret whose <code>sub</code> is your user id.
          </p>
        )}
        <details open={!dev}>
          <summary>{dev ? 'Use a token instead' : 'Token'}</summary>
          <form onSubmit={tokenSignIn} aria-label="Token sign-in" style={{ marginTop: 16 }}>
            <label className="field">
              <span>Access token</span>
              <textarea
                className="textarea"
                rows={3}
                value={token}
                onChange={(e) => {
                  setToken(e.target.value);
                  setProblems([]);
                }}
                spellCheck={false}
                autoComplete="off"
                required
              />
            </label>
            <label className="row small">
              <input
                type="checkbox"
                className="checkbox"
                checked={useCookie}
                onChange={(e) => setUseCookie(e.target.checked)}
              />
              Keep me signed in with a secure cookie (this page then keeps no token)
            </label>
            {problems.length > 0 ? (
              <ul className="error-box check-list" role="alert" aria-label="What is missing">
                {problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            ) : null}
            {missing.length > 0 ? (
              <div className="note-box small" data-testid="missing-grants">
                <p>This token works for the inbox. It cannot read:</p>
                <ul className="check-list">
                  {missing.map((m) => (
                    <li key={m.channel}>
                      <code>{m.channel}</code>, needed by {m.view}
                    </li>
                  ))}
                </ul>
              </div>
            ) : null}
            <button type="submit" className="btn btn-primary" disabled={busy}>
              Sign in with token
            </button>
          </form>
        </details>
      </div>
    </main>
  );
}
