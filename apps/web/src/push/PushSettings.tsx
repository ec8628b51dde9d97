import type { HeraldApi } from '@herald/client/inbox';
import { useHeraldApi } from '@herald/react';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import {
  deviceSubscription,
  pushUnsupportedReason,
  subscribeDevice,
  unsubscribeDevice,
} from './push-subscription.js';
import './push.css';

/** `GET /delivery/preferences` (docs/delivery.md#preferences). */
interface DeliveryPreferences {
  timeZone: string;
  email?: string;
  channels: { push: boolean; email: boolean; webhook: boolean };
  categories: Record<string, { push?: boolean; email?: boolean; webhook?: boolean }>;
  quietHours?: { start: string; end: string };
  bypassPriority: 'low' | 'normal' | 'high' | 'critical';
  digest: 'off' | 'hourly' | 'daily';
  emailEnabled?: boolean;
}

interface Webhook {
  id: string;
  url: string;
  createdAt: string;
}

const message = (e: unknown) => (e instanceof Error ? e.message : 'something went wrong');

/**
 * Delivery settings of the signed-in user, for /app/settings: Web Push on this device,
 * push and email per category, quiet hours in a time zone, the email digest, webhooks.
 * Needs a `HeraldProvider` above it (the user's credential).
 */
export function PushSettings() {
  const api = useHeraldApi();
  return (
    <div className="push-settings">
      <DeviceSection api={api} />
      <PreferencesSection api={api} />
      <WebhooksSection api={api} />
    </div>
  );
}

function DeviceSection({ api }: { api: HeraldApi }) {
  const unsupported = pushUnsupportedReason();
  const [subscribed, setSubscribed] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    if (unsupported) return;
    let live = true;
    void deviceSubscription().then(
      (s) => live && setSubscribed(s !== null),
      () => live && setSubscribed(false),
    );
    return () => {
      live = false;
    };
  }, [unsupported]);
  const toggle = async () => {
    setBusy(true);
    setStatus(null);
    try {
      if (subscribed) {
        await unsubscribeDevice(api);
        setSubscribed(false);
        setStatus({ ok: true, text: 'This device no longer gets push notifications.' });
      } else {
        await subscribeDevice(api);
        setSubscribed(true);
        setStatus({ ok: true, text: 'This device gets push notifications when no tab is open.' });
      }
    } catch (e) {
      setStatus({ ok: false, text: message(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="push-card" aria-labelledby="push-device-h">
      <h3 id="push-device-h">Push on this device</h3>
      {unsupported ? (
        <p className="push-muted">Not available here: {unsupported}.</p>
      ) : (
        <>
          <p className="push-muted">
            Herald sends a push when you have no tab open (or a notification stays unread), so you
            see it even with the browser in the background.
          </p>
          <div className="push-actions">
            <button
              type="button"
              className="push-button primary"
              disabled={busy || subscribed === null}
              onClick={() => void toggle()}
            >
              {subscribed ? 'Turn off on this device' : 'Enable push notifications'}
            </button>
            <span className="push-muted" data-testid="push-device-state">
              {subscribed === null ? 'Checking…' : subscribed ? 'On' : 'Off'}
            </span>
          </div>
        </>
      )}
      {status ? (
        <p role={status.ok ? 'status' : 'alert'} className={status.ok ? 'push-ok' : 'push-error'}>
          {status.text}
        </p>
      ) : null}
    </section>
  );
}

function timeZones(current: string): string[] {
  const intl = Intl as { supportedValuesOf?: (k: string) => string[] };
  const all = intl.supportedValuesOf?.('timeZone') ?? [];
  return [...new Set(['UTC', current, ...all])];
}

function PreferencesSection({ api }: { api: HeraldApi }) {
  const [prefs, setPrefs] = useState<DeliveryPreferences | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [newCategory, setNewCategory] = useState('');
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    api
      .get<DeliveryPreferences>('/delivery/preferences')
      .then(setPrefs, (e) => setLoadError(message(e)));
  }, [api]);
  const update = useCallback(
    (f: (p: DeliveryPreferences) => DeliveryPreferences) => setPrefs((p) => (p ? f(p) : p)),
    [],
  );
  if (loadError)
    return (
      <p role="alert" className="push-error">
        Delivery preferences: {loadError}
      </p>
    );
  if (!prefs) return <p className="push-muted">Loading delivery preferences…</p>;

  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const setChannel = (k: keyof DeliveryPreferences['channels'], v: boolean) =>
    update((p) => ({ ...p, channels: { ...p.channels, [k]: v } }));
  const setCategory = (cat: string, k: 'push' | 'email', v: boolean) =>
    update((p) => ({
      ...p,
      categories: { ...p.categories, [cat]: { ...p.categories[cat], [k]: v } },
    }));
  const effective = (cat: string, k: 'push' | 'email') =>
    prefs.categories[cat]?.[k] ?? prefs.channels[k];

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setStatus(null);
    const { emailEnabled: _ignored, ...body } = prefs;
    void _ignored;
    try {
      const saved = await api.put<DeliveryPreferences>('/delivery/preferences', body);
      setPrefs({ ...saved, emailEnabled: prefs.emailEnabled ?? false });
      setStatus({ ok: true, text: 'Saved.' });
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    }
  };

  return (
    <form className="push-card" onSubmit={(e) => void save(e)} aria-labelledby="push-prefs-h">
      <h3 id="push-prefs-h">Delivery</h3>
      <p className="push-muted">In-app notifications are always on. Choose where else they go.</p>
      <fieldset className="push-fieldset">
        <legend>Channels</legend>
        <label className="push-check">
          <input
            type="checkbox"
            checked={prefs.channels.push}
            onChange={(e) => setChannel('push', e.target.checked)}
          />
          Push
        </label>
        <label className="push-check">
          <input
            type="checkbox"
            checked={prefs.channels.email}
            onChange={(e) => setChannel('email', e.target.checked)}
            aria-describedby={prefs.emailEnabled === false ? 'push-no-email' : undefined}
          />
          Email
        </label>
        <label className="push-check">
          <input
            type="checkbox"
            checked={prefs.channels.webhook}
            onChange={(e) => setChannel('webhook', e.target.checked)}
          />
          Webhooks
        </label>
      </fieldset>
      <label className="push-field">
        Email address
        <input
          type="email"
          name="delivery-email"
          value={prefs.email ?? ''}
          onChange={(e) =>
            update((p) => ({
              ...p,
              ...(e.target.value ? { email: e.target.value } : { email: undefined }),
            }))
          }
          placeholder="you@example.org"
        />
        {prefs.emailEnabled === false ? (
          <span className="push-muted" id="push-no-email">
            This server has no email configured: email stays off until an operator sets up SMTP.
          </span>
        ) : null}
      </label>
      <fieldset className="push-fieldset">
        <legend>Per category</legend>
        {Object.keys(prefs.categories).length === 0 ? (
          <p className="push-muted">Every category follows the channels above.</p>
        ) : (
          <table className="push-table">
            <thead>
              <tr>
                <th scope="col">Category</th>
                <th scope="col">Push</th>
                <th scope="col">Email</th>
                <th scope="col">
                  <span className="push-hidden">Remove</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {Object.keys(prefs.categories).map((cat) => (
                <tr key={cat}>
                  <th scope="row">{cat}</th>
                  {(['push', 'email'] as const).map((k) => (
                    <td key={k}>
                      <input
                        type="checkbox"
                        aria-label={`${k} for ${cat}`}
                        checked={effective(cat, k)}
                        onChange={(e) => setCategory(cat, k, e.target.checked)}
                      />
                    </td>
                  ))}
                  <td>
                    <button
                      type="button"
                      className="push-button small"
                      onClick={() =>
                        update((p) => {
                          const { [cat]: _gone, ...rest } = p.categories;
                          void _gone;
                          return { ...p, categories: rest };
                        })
                      }
                    >
                      Remove<span className="push-hidden"> {cat}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div className="push-actions">
          <label className="push-field inline">
            Category
            <input
              name="new-category"
              value={newCategory}
              onChange={(e) => setNewCategory(e.target.value)}
              maxLength={64}
            />
          </label>
          <button
            type="button"
            className="push-button small"
            disabled={!newCategory.trim()}
            onClick={() => {
              const cat = newCategory.trim();
              update((p) => ({
                ...p,
                categories: { ...p.categories, [cat]: { ...p.categories[cat] } },
              }));
              setNewCategory('');
            }}
          >
            Add category
          </button>
        </div>
      </fieldset>
      <fieldset className="push-fieldset">
        <legend>Quiet hours</legend>
        <label className="push-check">
          <input
            type="checkbox"
            name="quiet-on"
            checked={prefs.quietHours !== undefined}
            onChange={(e) =>
              update((p) => {
                const { quietHours: _q, ...rest } = p;
                void _q;
                return e.target.checked
                  ? { ...rest, quietHours: { start: '22:00', end: '07:00' } }
                  : rest;
              })
            }
          />
          Hold push and email during quiet hours
        </label>
        {prefs.quietHours ? (
          <div className="push-row">
            <label className="push-field">
              From
              <input
                type="time"
                name="quiet-start"
                value={prefs.quietHours.start}
                onChange={(e) =>
                  update((p) => ({ ...p, quietHours: { ...p.quietHours!, start: e.target.value } }))
                }
                required
              />
            </label>
            <label className="push-field">
              To
              <input
                type="time"
                name="quiet-end"
                value={prefs.quietHours.end}
                onChange={(e) =>
                  update((p) => ({ ...p, quietHours: { ...p.quietHours!, end: e.target.value } }))
                }
                required
              />
            </label>
            <label className="push-field">
              Still deliver at once
              <select
                name="bypass"
                value={prefs.bypassPriority}
                onChange={(e) =>
                  update((p) => ({
                    ...p,
                    bypassPriority: e.target.value as DeliveryPreferences['bypassPriority'],
                  }))
                }
              >
                <option value="critical">critical only</option>
                <option value="high">high and critical</option>
                <option value="normal">normal and above</option>
                <option value="low">everything</option>
              </select>
            </label>
          </div>
        ) : null}
        <label className="push-field">
          Time zone
          <select
            name="time-zone"
            value={prefs.timeZone}
            onChange={(e) => update((p) => ({ ...p, timeZone: e.target.value }))}
          >
            {timeZones(prefs.timeZone).map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </select>
          {prefs.timeZone !== browserZone ? (
            <button
              type="button"
              className="push-link"
              onClick={() => update((p) => ({ ...p, timeZone: browserZone }))}
            >
              Use this device's ({browserZone})
            </button>
          ) : null}
        </label>
      </fieldset>
      <label className="push-field">
        Email digest
        <select
          name="digest"
          value={prefs.digest}
          onChange={(e) =>
            update((p) => ({ ...p, digest: e.target.value as DeliveryPreferences['digest'] }))
          }
        >
          <option value="off">Off: one email per notification</option>
          <option value="hourly">Hourly: unread notifications of the hour in one email</option>
          <option value="daily">Daily: unread notifications of the day in one email</option>
        </select>
      </label>
      <div className="push-actions">
        <button type="submit" className="push-button primary">
          Save delivery settings
        </button>
        {status ? (
          <p role={status.ok ? 'status' : 'alert'} className={status.ok ? 'push-ok' : 'push-error'}>
            {status.text}
          </p>
        ) : null}
      </div>
    </form>
  );
}

function WebhooksSection({ api }: { api: HeraldApi }) {
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    () =>
      api.get<{ webhooks: Webhook[] }>('/delivery/webhooks').then(
        (r) => setHooks(r.webhooks),
        (e) => setError(message(e)),
      ),
    [api],
  );
  useEffect(() => void load(), [load]);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api.post<Webhook & { secret: string }>('/delivery/webhooks', { url });
      setSecret({ url: r.url, secret: r.secret });
      setUrl('');
      await load();
    } catch (err) {
      setError(message(err));
    }
  };
  const remove = async (h: Webhook) => {
    setError(null);
    try {
      await api.request('DELETE', `/delivery/webhooks/${encodeURIComponent(h.id)}`);
      await load();
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <section className="push-card" aria-labelledby="push-hooks-h">
      <h3 id="push-hooks-h">Webhooks</h3>
      <p className="push-muted">
        Herald POSTs each notification to these HTTPS URLs, signed with the secret (the way to
        Slack, SMS gateways and the rest).
      </p>
      {hooks && hooks.length > 0 ? (
        <ul className="push-list">
          {hooks.map((h) => (
            <li key={h.id}>
              <code>{h.url}</code>
              <button type="button" className="push-button small" onClick={() => void remove(h)}>
                Remove<span className="push-hidden"> {h.url}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : hooks ? (
        <p className="push-muted">No webhooks.</p>
      ) : null}
      {secret ? (
        <div className="push-secret" role="status">
          <p>
            Signing secret for <code>{secret.url}</code>, shown once:
          </p>
          <code data-testid="webhook-secret">{secret.secret}</code>
          <button type="button" className="push-button small" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      ) : null}
      <form className="push-actions" onSubmit={(e) => void add(e)}>
        <label className="push-field inline grow">
          URL
          <input
            type="url"
            name="webhook-url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder="https://hooks.example.com/herald"
            required
          />
        </label>
        <button type="submit" className="push-button">
          Add webhook
        </button>
      </form>
      {error ? (
        <p role="alert" className="push-error">
          {error}
        </p>
      ) : null}
    </section>
  );
}
