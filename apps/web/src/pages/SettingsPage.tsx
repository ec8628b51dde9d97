import { PRIORITIES, useHeraldApi, useUnreadCount, type Priority } from '@herald/react';
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useDesktopNotifications } from '../lib/browser-notifications.js';
import { PushSettings } from '../push/PushSettings.js';

/** `GET/PUT /notifications/preferences` (docs/inbox.md#preferences). */
interface Preferences {
  mutedCategories: string[];
  minPriority: Priority;
}

/** Categories offered even before any notification of theirs arrived. */
const COMMON = ['billing', 'ci', 'security', 'social', 'system'];

function InboxPreferences() {
  const api = useHeraldApi();
  const { summary } = useUnreadCount();
  const [prefs, setPrefs] = useState<Preferences | null>(null);
  const [added, setAdded] = useState<string[]>([]);
  const [newCategory, setNewCategory] = useState('');
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    api.get<Preferences>('/notifications/preferences').then(
      (p) => live && setPrefs({ ...p, mutedCategories: [...p.mutedCategories] }),
      (e: Error) => live && setStatus({ ok: false, text: e.message }),
    );
    return () => {
      live = false;
    };
  }, [api]);

  const categories = useMemo(() => {
    const set = new Set([...COMMON, ...added, ...Object.keys(summary?.unreadByCategory ?? {})]);
    for (const c of prefs?.mutedCategories ?? []) set.add(c);
    return [...set].sort();
  }, [summary, prefs, added]);

  if (!prefs) {
    return status ? (
      <p className="error-box" role="alert">
        {status.text}
      </p>
    ) : (
      <p className="muted">Loading…</p>
    );
  }

  const toggle = (c: string, live: boolean) =>
    setPrefs({
      ...prefs,
      mutedCategories: live
        ? prefs.mutedCategories.filter((m) => m !== c)
        : [...prefs.mutedCategories, c],
    });
  const save = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setStatus(null);
    api.put<Preferences>('/notifications/preferences', prefs).then(
      (p) => {
        setPrefs({ ...p, mutedCategories: [...p.mutedCategories] });
        setStatus({ ok: true, text: 'Saved.' });
        setBusy(false);
      },
      (err: Error) => {
        setStatus({ ok: false, text: err.message });
        setBusy(false);
      },
    );
  };
  const addCategory = () => {
    const c = newCategory.trim();
    if (c && !categories.includes(c)) setAdded([...added, c]);
    setNewCategory('');
  };

  return (
    <form onSubmit={save} className="stack" aria-label="Inbox preferences">
      <p className="muted small">
        A muted category is still stored in your inbox; it just does not pop up live. Critical
        notifications always do.
      </p>
      <table className="settings-table">
        <thead>
          <tr>
            <th scope="col">Category</th>
            <th scope="col">Show live</th>
          </tr>
        </thead>
        <tbody>
          {categories.map((c) => (
            <tr key={c}>
              <td>{c}</td>
              <td>
                <input
                  type="checkbox"
                  className="checkbox"
                  checked={!prefs.mutedCategories.includes(c)}
                  onChange={(e) => toggle(c, e.target.checked)}
                  aria-label={`Show ${c} notifications live`}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <label className="field">
          <span>Another category</span>
          <input
            className="input"
            value={newCategory}
            onChange={(e) => setNewCategory(e.target.value)}
            maxLength={64}
          />
        </label>
        <button type="button" className="btn" onClick={addCategory} style={{ alignSelf: 'end' }}>
          Add category
        </button>
      </div>
      <label className="field" style={{ maxWidth: 320 }}>
        <span>Show live from priority</span>
        <select
          className="select"
          value={prefs.minPriority}
          onChange={(e) => setPrefs({ ...prefs, minPriority: e.target.value as Priority })}
        >
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          Save preferences
        </button>
        {status ? (
          <span role="status" className={status.ok ? 'small' : 'small error-box'}>
            {status.text}
          </span>
        ) : null}
      </div>
    </form>
  );
}

function DesktopSection() {
  const { permission, request } = useDesktopNotifications();
  const text = {
    granted: 'On: a desktop notification appears when this tab is in the background.',
    denied: 'Blocked in this browser. Allow notifications for this site in its settings.',
    default: 'Off. The browser asks once when you turn them on.',
    unsupported: 'This browser has no desktop notifications.',
  }[permission];
  return (
    <div className="row">
      <p className="muted" style={{ flex: 1 }}>
        {text}
      </p>
      {permission === 'default' ? (
        <button type="button" className="btn" onClick={() => void request()}>
          Turn on desktop notifications
        </button>
      ) : null}
    </div>
  );
}

/** /app/settings: inbox preferences per category, desktop notifications, delivery. */
export function SettingsPage() {
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Settings</h1>
          <p>What pops up live, and where else notifications reach you.</p>
        </div>
      </div>
      <section className="card pad stack" aria-labelledby="prefs-title">
        <h2 id="prefs-title">Inbox preferences</h2>
        <InboxPreferences />
      </section>
      <section className="card pad stack" aria-labelledby="desktop-title">
        <h2 id="desktop-title">Desktop notifications</h2>
        <DesktopSection />
      </section>
      <section className="card pad stack" aria-labelledby="delivery-title">
        <h2 id="delivery-title">Push, email and webhooks</h2>
        <PushSettings />
      </section>
    </>
  );
}
