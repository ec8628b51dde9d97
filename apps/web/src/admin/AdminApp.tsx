import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link, useRoute } from '../router.js';
import {
  adminApi,
  checkAdmin,
  CREDENTIAL_REFUSED,
  loadCredential,
  saveCredential,
  errorText,
  type AdminCredential,
} from './admin-api.js';
import { DeliveryView } from './DeliveryView.js';
import { KeysView } from './KeysView.js';
import { SendView } from './SendView.js';
import { StatsView } from './StatsView.js';
import { TemplatesView } from './TemplatesView.js';
import './admin.css';

const VIEWS = [
  { path: '/admin', name: 'Overview', View: StatsView },
  { path: '/admin/send', name: 'Send', View: SendView },
  { path: '/admin/delivery', name: 'Delivery', View: DeliveryView },
  { path: '/admin/keys', name: 'API keys', View: KeysView },
  { path: '/admin/templates', name: 'Templates', View: TemplatesView },
] as const;

/**
 * The admin dashboard (/app/admin): its own sign-in with an admin API key or an admin token,
 * checked against `/admin/stats` before anything is shown, and kept in sessionStorage. An
 * ordinary user's token is told it is not an admin and sees no admin data; the server's
 * /admin/* routes refuse it as well, so hiding the views is convenience, not the defence.
 */
export function AdminApp() {
  const [credential, setCredential] = useState<AdminCredential | null>(loadCredential);
  const [expired, setExpired] = useState(false);
  useEffect(() => {
    if (!credential) return;
    const refused = () => {
      saveCredential(null);
      setCredential(null);
      setExpired(true);
    };
    window.addEventListener(CREDENTIAL_REFUSED, refused);
    return () => window.removeEventListener(CREDENTIAL_REFUSED, refused);
  }, [credential]);
  if (!credential) {
    return (
      <AdminSignIn
        notice={expired ? 'Herald no longer accepts that credential: sign in again.' : null}
        onSignedIn={(c) => {
          saveCredential(c);
          setCredential(c);
        }}
      />
    );
  }
  return (
    <AdminShell
      credential={credential}
      onSignOut={() => {
        saveCredential(null);
        setCredential(null);
      }}
    />
  );
}

function AdminShell({ credential, onSignOut }: { credential: AdminCredential; onSignOut(): void }) {
  const { path } = useRoute();
  const current = VIEWS.find((v) => v.path === path) ?? VIEWS[0];
  const View = current.View;
  const api = useMemo(() => adminApi(credential), [credential]);
  return (
    <div className="admin">
      <header className="admin-header">
        <div className="admin-brand">
          <span className="admin-logo" aria-hidden="true">
            H
          </span>
          Herald <span className="admin-badge">admin</span>
        </div>
        <nav aria-label="Admin" className="admin-nav">
          {VIEWS.map((v) => (
            <Link key={v.path} to={v.path} aria-current={v === current ? 'page' : undefined}>
              {v.name}
            </Link>
          ))}
        </nav>
        <button type="button" className="button admin-small" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main className="admin-main" id="admin-main">
        <h2 className="admin-title">{current.name}</h2>
        <View api={api} />
      </main>
    </div>
  );
}

function AdminSignIn({
  onSignedIn,
  notice,
}: {
  onSignedIn(c: AdminCredential): void;
  notice: string | null;
}) {
  const [kind, setKind] = useState<AdminCredential['kind']>('key');
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c: AdminCredential = { kind, value: value.trim() };
    setBusy(true);
    setError(null);
    try {
      const refusal = await checkAdmin(c);
      if (refusal) setError(refusal);
      else onSignedIn(c);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="admin admin-signin">
      <form
        className="admin-panel admin-form"
        onSubmit={(e) => void submit(e)}
        aria-labelledby="signin-h"
      >
        <h1 id="signin-h">Herald admin</h1>
        <p className="admin-muted">
          Sign in with an admin API key or a token with <code>"admin": true</code>. It is kept for
          this tab only.
        </p>
        <fieldset className="segmented">
          <legend>Credential</legend>
          <label>
            <input
              type="radio"
              name="kind"
              checked={kind === 'key'}
              onChange={() => setKind('key')}
            />
            API key
          </label>
          <label>
            <input
              type="radio"
              name="kind"
              checked={kind === 'token'}
              onChange={() => setKind('token')}
            />
            Token
          </label>
        </fieldset>
        <label className="admin-field">
          {kind === 'key' ? 'Admin API key' : 'Admin token'}
          <input
            name="credential"
            type="password"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            autoComplete="off"
            required
          />
        </label>
        {notice && !error ? (
          <p role="status" className="admin-muted">
            {notice}
          </p>
        ) : null}
        {error ? (
          <p role="alert" className="admin-error" data-testid="signin-error">
            {error}
          </p>
        ) : null}
        <div className="form-actions">
          <button type="submit" className="button primary" disabled={busy || !value.trim()}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
          <a href="/app/" className="admin-muted admin-small">
            Back to the app
          </a>
        </div>
      </form>
    </main>
  );
}
