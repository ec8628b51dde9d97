import type { HeraldApi } from '@herald/client/inbox';
import { useCallback, useState, type FormEvent } from 'react';
import { errorText } from './admin-api.js';
import { AdminSelect } from './AdminSelect.js';
import { ErrorLine, StatusLine, type Outcome } from './StatusLine.js';
import {
  fillTemplate,
  listTemplates,
  PRIORITIES,
  variablesOf,
  type Template,
} from './templates-api.js';
import { usePoll } from './use-poll.js';

interface Draft {
  name: string;
  title: string;
  message: string;
  category: string;
  priority: string;
  url: string;
}

const BLANK: Draft = { name: '', title: '', message: '', category: '', priority: '', url: '' };

const draftOf = (t: Template): Draft => ({
  name: t.name,
  title: t.title,
  message: t.message,
  category: t.category ?? '',
  priority: t.priority ?? '',
  url: t.url ?? '',
});

/** Templates: list, edit with a live preview, save (`PUT /templates/{name}`), delete. */
export function TemplatesView({ api }: { api: HeraldApi }) {
  const load = useCallback(() => listTemplates(api), [api]);
  const { data: templates, error, refresh } = usePoll(load, 30_000);
  const [draft, setDraft] = useState<Draft>(BLANK);
  const [isNew, setIsNew] = useState(true);
  const [sample, setSample] = useState<Record<string, string>>({});
  const [status, setStatus] = useState<Outcome | null>(null);
  const set = (k: keyof Draft) => (e: { target: { value: string } }) =>
    setDraft({ ...draft, [k]: e.target.value });
  const variables = variablesOf(draft.title, draft.message, draft.url);

  const edit = (t: Template) => {
    setDraft(draftOf(t));
    setIsNew(false);
    setStatus(null);
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setStatus(null);
    const body: Record<string, string> = { title: draft.title, message: draft.message };
    if (draft.category) body['category'] = draft.category;
    if (draft.priority) body['priority'] = draft.priority;
    if (draft.url) body['url'] = draft.url;
    try {
      await api.put(`/templates/${encodeURIComponent(draft.name)}`, body);
      setStatus({ ok: true, text: `Saved "${draft.name}".` });
      setIsNew(false);
      refresh();
    } catch (err) {
      setStatus({ ok: false, text: errorText(err) });
    }
  };
  const remove = async () => {
    if (!window.confirm(`Delete the template "${draft.name}"? Sends that name it will fail.`))
      return;
    try {
      await api.delete(`/templates/${encodeURIComponent(draft.name)}`);
      setStatus({ ok: true, text: `Deleted "${draft.name}".` });
      setDraft(BLANK);
      setIsNew(true);
      refresh();
    } catch (err) {
      setStatus({ ok: false, text: errorText(err) });
    }
  };

  return (
    <div className="admin-columns templates">
      <section className="admin-panel" aria-labelledby="tpl-list-h">
        <div className="panel-head">
          <h3 id="tpl-list-h">Templates</h3>
          <button
            type="button"
            className="button admin-small"
            onClick={() => {
              setDraft(BLANK);
              setIsNew(true);
              setStatus(null);
            }}
          >
            New
          </button>
        </div>
        <ErrorLine error={error} />
        {!templates ? (
          <p>Loading…</p>
        ) : templates.length === 0 ? (
          <p className="admin-muted">No templates yet.</p>
        ) : (
          <ul className="pick-list" data-testid="template-list">
            {templates.map((t) => (
              <li key={t.name}>
                <button
                  type="button"
                  className={t.name === draft.name && !isNew ? 'picked' : ''}
                  aria-current={t.name === draft.name && !isNew ? 'true' : undefined}
                  onClick={() => edit(t)}
                >
                  <span className="pick-name">{t.name}</span>
                  <span className="admin-muted admin-small">{t.title}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
      <form
        className="admin-panel admin-form"
        onSubmit={(e) => void save(e)}
        aria-labelledby="tpl-edit-h"
      >
        <h3 id="tpl-edit-h">{isNew ? 'New template' : `Edit "${draft.name}"`}</h3>
        <label className="admin-field">
          Name
          <input
            name="tpl-name"
            value={draft.name}
            onChange={set('name')}
            readOnly={!isNew}
            pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
            title="1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit"
            required
          />
        </label>
        <label className="admin-field">
          Title
          <input name="tpl-title" value={draft.title} onChange={set('title')} required />
        </label>
        <label className="admin-field">
          Message
          <textarea
            name="tpl-message"
            value={draft.message}
            onChange={set('message')}
            rows={4}
            required
          />
        </label>
        <div className="field-row">
          <label className="admin-field">
            Category
            <input name="tpl-category" value={draft.category} onChange={set('category')} />
          </label>
          <AdminSelect
            label="Priority"
            name="tpl-priority"
            value={draft.priority}
            onChange={(priority) => setDraft({ ...draft, priority })}
            none="(none)"
            options={PRIORITIES}
          />
        </div>
        <label className="admin-field">
          Link
          <input
            name="tpl-url"
            value={draft.url}
            onChange={set('url')}
            placeholder="https://example.com/{{id}}"
          />
        </label>
        <p className="admin-muted admin-small">
          Use <code>{'{{name}}'}</code> placeholders; a send must give every variable.
        </p>
        <section className="preview" aria-labelledby="tpl-preview-h">
          <h4 id="tpl-preview-h">Preview</h4>
          {variables.map((v) => (
            <label className="admin-field inline" key={v}>
              {v}
              <input
                name={`sample-${v}`}
                value={sample[v] ?? ''}
                onChange={(e) => setSample({ ...sample, [v]: e.target.value })}
              />
            </label>
          ))}
          <div className="preview-card" data-testid="template-preview">
            <strong>{fillTemplate(draft.title, sample) || 'Title'}</strong>
            <p>{fillTemplate(draft.message, sample) || 'Message'}</p>
            {draft.url ? (
              <span className="admin-muted admin-small">{fillTemplate(draft.url, sample)}</span>
            ) : null}
          </div>
        </section>
        <div className="form-actions">
          <button type="submit" className="button primary">
            Save
          </button>
          {!isNew ? (
            <button type="button" className="button danger" onClick={() => void remove()}>
              Delete
            </button>
          ) : null}
          <StatusLine outcome={status} />
        </div>
      </form>
    </div>
  );
}
