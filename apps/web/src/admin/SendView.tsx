import type { HeraldApi } from '@herald/client/inbox';
import { useEffect, useState, type FormEvent } from 'react';
import { errorText } from './admin-api.js';
import { AdminSelect } from './AdminSelect.js';
import { StatusLine, type Outcome } from './StatusLine.js';
import { fillTemplate, listTemplates, PRIORITIES, type Template } from './templates-api.js';

type Audience = 'user' | 'group' | 'everyone';

/** A user id list typed as "ann, bob" or one per line. */
const idsOf = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * Send a notification to one user (`POST /notify/{user}`), a group (`POST /broadcast` with
 * `users`) or everyone (`POST /broadcast` without), typed in or from a template.
 */
export function SendView({ api }: { api: HeraldApi }) {
  const [audience, setAudience] = useState<Audience>('user');
  const [recipients, setRecipients] = useState('');
  const [templates, setTemplates] = useState<Template[]>([]);
  const [templateName, setTemplateName] = useState('');
  const [variables, setVariables] = useState<Record<string, string>>({});
  const [title, setTitle] = useState('');
  const [message, setMessage] = useState('');
  const [category, setCategory] = useState('');
  const [priority, setPriority] = useState('');
  const [url, setUrl] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Outcome | null>(null);

  useEffect(() => {
    listTemplates(api).then(setTemplates, () => setTemplates([]));
  }, [api]);
  const template = templates.find((t) => t.name === templateName);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setResult(null);
    const ids = idsOf(recipients);
    if (audience !== 'everyone' && ids.length === 0) {
      setResult({ ok: false, text: 'Name at least one user.' });
      return;
    }
    if (audience === 'user' && ids.length > 1) {
      setResult({ ok: false, text: 'One user only: choose "Group" to send to several.' });
      return;
    }
    const body: Record<string, unknown> = template
      ? { template: template.name, variables }
      : { title, message };
    if (category) body['category'] = category;
    if (priority) body['priority'] = priority;
    if (url) body['url'] = url;
    if (audience === 'group') body['users'] = ids;
    const path = audience === 'user' ? `/notify/${encodeURIComponent(ids[0]!)}` : '/broadcast';
    setBusy(true);
    try {
      const r = await api.post<{ ids?: string[] }>(path, body);
      const n = r.ids?.length ?? 0;
      const to =
        audience === 'everyone' ? 'everyone' : audience === 'user' ? ids[0] : `${ids.length} users`;
      setResult({
        ok: true,
        text: `Sent to ${to} (${n} notification${n === 1 ? '' : 's'} stored).`,
      });
    } catch (err) {
      setResult({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="admin-panel admin-form send-form" onSubmit={(e) => void submit(e)}>
      <fieldset className="segmented">
        <legend>Send to</legend>
        {(['user', 'group', 'everyone'] as const).map((a) => (
          <label key={a}>
            <input
              type="radio"
              name="audience"
              value={a}
              checked={audience === a}
              onChange={() => setAudience(a)}
            />
            {a === 'user' ? 'One user' : a === 'group' ? 'Group' : 'Everyone'}
          </label>
        ))}
      </fieldset>
      {audience !== 'everyone' ? (
        <label className="admin-field">
          {audience === 'user' ? 'User id' : 'User ids (comma or space separated)'}
          <input
            name="recipients"
            value={recipients}
            onChange={(e) => setRecipients(e.target.value)}
            autoComplete="off"
            required
          />
        </label>
      ) : (
        <p className="admin-muted admin-small">
          Stored once for everyone and shown live on the broadcast channel.
        </p>
      )}
      <AdminSelect
        label="Template"
        name="template"
        value={templateName}
        onChange={(name) => {
          setTemplateName(name);
          setVariables({});
        }}
        none="None: write the text"
        options={templates.map((t) => t.name)}
      />
      {template ? (
        <>
          {template.variables.map((v) => (
            <label className="admin-field" key={v}>
              {v}
              <input
                name={`var-${v}`}
                value={variables[v] ?? ''}
                onChange={(e) => setVariables({ ...variables, [v]: e.target.value })}
                required
              />
            </label>
          ))}
          <div className="preview" aria-label="Preview">
            <strong>{fillTemplate(template.title, variables)}</strong>
            <p>{fillTemplate(template.message, variables)}</p>
          </div>
        </>
      ) : (
        <>
          <label className="admin-field">
            Title
            <input
              name="title"
              value={title}
              onChange={(e) => setTitle(e.target.value)}
              maxLength={200}
              required
            />
          </label>
          <label className="admin-field">
            Message
            <textarea
              name="message"
              value={message}
              onChange={(e) => setMessage(e.target.value)}
              rows={3}
              required
            />
          </label>
        </>
      )}
      <div className="field-row">
        <label className="admin-field">
          Category
          <input
            name="category"
            value={category}
            onChange={(e) => setCategory(e.target.value)}
            placeholder={template?.category ?? 'e.g. billing'}
          />
        </label>
        <AdminSelect
          label="Priority"
          name="priority"
          value={priority}
          onChange={setPriority}
          none={template?.priority ? `Template's (${template.priority})` : 'Normal'}
          options={PRIORITIES}
        />
      </div>
      {!template ? (
        <label className="admin-field">
          Link (optional)
          <input
            name="url"
            type="url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder="https://"
          />
        </label>
      ) : null}
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Sending…' : 'Send'}
        </button>
        <StatusLine outcome={result} />
      </div>
    </form>
  );
}
