import type { HeraldApi } from '@herald/client/inbox';
import { useCallback, useState, type FormEvent } from 'react';
import { errorText } from './admin-api.js';
import { ErrorLine } from './StatusLine.js';
import { usePoll } from './use-poll.js';

/** A stored API key as `GET /admin/keys` lists it (never the key itself). */
interface ApiKey {
  id: string;
  name: string;
  publish: string[];
  admin: boolean;
  createdAt: number;
  revokedAt: number | null;
}

const grantsOf = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** API keys: create (the secret is shown once), list, revoke (routes/security.ts). */
export function KeysView({ api }: { api: HeraldApi }) {
  const load = useCallback(
    () => api.get<{ keys: ApiKey[] }>('/admin/keys').then((r) => r.keys),
    [api],
  );
  const { data: keys, error, refresh } = usePoll(load, 30_000);
  const [name, setName] = useState('');
  const [grants, setGrants] = useState('');
  const [admin, setAdmin] = useState(false);
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setActionError(null);
    try {
      const r = await api.post<{ key: string; name: string }>('/admin/keys', {
        name,
        publish: grantsOf(grants),
        admin,
      });
      setCreated({ name: r.name, key: r.key });
      setName('');
      setGrants('');
      setAdmin(false);
      refresh();
    } catch (err) {
      setActionError(errorText(err));
    }
  };
  const revoke = async (k: ApiKey) => {
    if (!window.confirm(`Revoke "${k.name}"? Every service using it stops working at once.`))
      return;
    setActionError(null);
    try {
      await api.delete(`/admin/keys/${encodeURIComponent(k.id)}`);
      refresh();
    } catch (err) {
      setActionError(errorText(err));
    }
  };

  return (
    <div className="admin-stack">
      <form
        className="admin-panel admin-form"
        onSubmit={(e) => void create(e)}
        aria-labelledby="newkey-h"
      >
        <h3 id="newkey-h">New API key</h3>
        <div className="field-row">
          <label className="admin-field">
            Name
            <input
              name="key-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              maxLength={100}
              required
            />
          </label>
          <label className="admin-field">
            Publish grants
            <input
              name="key-grants"
              value={grants}
              onChange={(e) => setGrants(e.target.value)}
              placeholder="user:*, alerts"
            />
          </label>
        </div>
        <label className="check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
          Admin (may use this dashboard and the admin API)
        </label>
        <div className="form-actions">
          <button type="submit" className="button primary">
            Create key
          </button>
        </div>
      </form>
      {created ? (
        <section className="admin-panel secret" role="status" aria-labelledby="secret-h">
          <h3 id="secret-h">Key "{created.name}" created</h3>
          <p>Copy it now: Herald keeps only its hash and will not show it again.</p>
          <code className="secret-value" data-testid="new-key">
            {created.key}
          </code>
          <div className="form-actions">
            <button
              type="button"
              className="button"
              onClick={() => void navigator.clipboard?.writeText(created.key)}
            >
              Copy
            </button>
            <button type="button" className="button" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </section>
      ) : null}
      <ErrorLine error={actionError ?? error} />
      <section className="admin-panel" aria-labelledby="keys-h">
        <h3 id="keys-h">Keys</h3>
        {!keys ? (
          <p>Loading…</p>
        ) : keys.length === 0 ? (
          <p className="admin-muted">
            No stored keys yet. Keys from the configuration are not listed.
          </p>
        ) : (
          <div className="table-scroll">
            <table className="admin-table" data-testid="keys-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Grants</th>
                  <th scope="col">Created</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={k.id} data-key-id={k.id}>
                    <td>
                      {k.name} {k.admin ? <span className="admin-badge">admin</span> : null}
                    </td>
                    <td>
                      <code>{k.publish.join(', ') || '–'}</code>
                    </td>
                    <td>{new Date(k.createdAt).toLocaleString()}</td>
                    <td>{k.revokedAt ? 'revoked' : 'active'}</td>
                    <td>
                      {k.revokedAt ? null : (
                        <button
                          type="button"
                          className="button danger admin-small"
                          onClick={() => void revoke(k)}
                        >
                          Revoke<span className="visually-hidden"> {k.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
