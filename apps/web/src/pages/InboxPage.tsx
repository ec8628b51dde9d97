import { SelectField, asOptions } from '../components/SelectField.js';
import {
  PRIORITIES,
  useNotifications,
  useUnreadCount,
  type Notification,
  type NotificationFilter,
  type Priority,
} from '@herald/react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Tabs } from '../components/Tabs.js';
import { TIME_RANGES, fullTime, rangeMs, timeAgo, type TimeRange } from '../lib/format.js';
import { useDebounced } from '../lib/use-debounced.js';
import {
  offlineNotifications,
  rememberNotifications,
  type OfflineNotification,
} from '../push/offline-inbox.js';

type Tab = 'unread' | 'read' | 'all' | 'archived';

const TABS: readonly { value: Tab; label: string }[] = [
  { value: 'unread', label: 'Unread' },
  { value: 'read', label: 'Read' },
  { value: 'all', label: 'All' },
  { value: 'archived', label: 'Archived' },
];

const TAB_FILTER: Record<Tab, NotificationFilter> = {
  unread: { unread: true },
  read: { read: true },
  all: {},
  archived: { archived: true },
};

/** Whether the browser says it is online (`navigator.onLine`, kept by its events). */
function useOnline(): boolean {
  const [online, setOnline] = useState(() => navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);
  return online;
}

/** A kept notification as a list row (its read and archived state as last seen). */
function fromKept(k: OfflineNotification): Notification {
  return {
    ...k,
    priority: k.priority as Priority,
    read: k.read ?? false,
    readAt: null,
    seen: false,
    seenAt: null,
    acked: false,
    ackedAt: null,
    ackedBy: null,
    archived: k.archived ?? false,
    archivedAt: null,
  };
}

/** What the service worker keeps of a notification shown live. */
function toKept(n: Notification): OfflineNotification {
  return {
    id: n.id,
    title: n.title,
    message: n.message,
    priority: n.priority,
    createdAt: n.createdAt,
    read: n.read,
    archived: n.archived,
    ...(n.url ? { url: n.url } : {}),
    ...(n.category ? { category: n.category } : {}),
  };
}

function Row(props: {
  n: Notification;
  readOnly?: boolean;
  selected: boolean;
  onSelect: (on: boolean) => void;
  onRead: (read: boolean) => void;
  onArchive: (archived: boolean) => void;
  onAck: () => void;
}) {
  const { n, readOnly = false, selected, onSelect, onRead, onArchive, onAck } = props;
  return (
    <li className="item" data-unread={!n.read} data-testid="notification" data-id={n.id}>
      <input
        type="checkbox"
        className="checkbox"
        checked={selected}
        disabled={readOnly}
        onChange={(e) => onSelect(e.target.checked)}
        aria-label={`Select “${n.title}”`}
      />
      <div>
        <div className="item-title">
          <span className="sr-only">{n.read ? '' : 'Unread: '}</span>
          {n.title}
        </div>
        <p className="item-body">{n.message}</p>
        <div className="item-meta">
          <time dateTime={n.createdAt} title={fullTime(n.createdAt)}>
            {timeAgo(n.createdAt)}
          </time>
          {n.category ? <span className="chip">{n.category}</span> : null}
          {n.priority !== 'normal' ? (
            <span className="chip" data-tone={n.priority}>
              {n.priority}
            </span>
          ) : null}
          {n.severity ? (
            <span className="chip" data-sev={n.severity}>
              {n.acked ? `${n.severity}, acked by ${n.ackedBy ?? 'someone'}` : n.severity}
            </span>
          ) : null}
          {n.url ? (
            <a href={n.url} target="_blank" rel="noreferrer noopener">
              Open link
            </a>
          ) : null}
        </div>
      </div>
      <div className="item-actions">
        {n.severity && !n.acked ? (
          <button
            type="button"
            className="btn btn-small"
            onClick={onAck}
            disabled={readOnly}
            aria-label={`Acknowledge “${n.title}”`}
          >
            Acknowledge
          </button>
        ) : null}
        <button
          type="button"
          className="btn btn-small"
          onClick={() => onRead(!n.read)}
          disabled={readOnly}
          aria-label={n.read ? `Mark “${n.title}” unread` : `Mark “${n.title}” read`}
        >
          {n.read ? 'Mark unread' : 'Mark read'}
        </button>
        <button
          type="button"
          className="btn btn-small"
          onClick={() => onArchive(!n.archived)}
          disabled={readOnly}
          aria-label={n.archived ? `Unarchive “${n.title}”` : `Archive “${n.title}”`}
        >
          {n.archived ? 'Unarchive' : 'Archive'}
        </button>
      </div>
    </li>
  );
}

/**
 * The inbox (seed 000): tabs, filters by category, priority and time, search, one and bulk
 * actions, cursor paging; live across tabs and devices through the inbox's state events.
 * Offline (the browser says so, or the list fails with a network error) it shows the
 * notifications the service worker kept on this device, read-only; back online the list
 * reloads while the client resumes its stream from its cursor.
 */
export function InboxPage() {
  const [tab, setTab] = useState<Tab>('unread');
  const [category, setCategory] = useState('');
  const [minPriority, setMinPriority] = useState<Priority | ''>('');
  const [range, setRange] = useState<TimeRange>('any');
  const [search, setSearch] = useState('');
  const q = useDebounced(search.trim(), 250);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const { summary } = useUnreadCount();

  // `since` is fixed when the range is picked, so the filter (and the list) stays put.
  const since = useMemo(() => {
    const ms = rangeMs(range);
    return ms === null ? undefined : Date.now() - ms;
  }, [range]);
  const filter = useMemo<NotificationFilter>(
    () => ({
      ...TAB_FILTER[tab],
      ...(category ? { category: [category] } : {}),
      ...(minPriority ? { minPriority } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(q ? { q } : {}),
    }),
    [tab, category, minPriority, since, q],
  );
  const inbox = useNotifications(filter, { limit: 20 });
  const online = useOnline();
  const offline = !online || (inbox.status === 'error' && inbox.error?.code === 'network');
  const [kept, setKept] = useState<readonly Notification[] | null>(null);
  useEffect(() => {
    if (!offline) {
      setKept(null);
      return;
    }
    let live = true;
    void offlineNotifications().then((list) => live && setKept(list.map(fromKept)));
    return () => {
      live = false;
    };
  }, [offline]);
  // Back online: reload the first page (what changed meanwhile), once per reconnect.
  // The hook's actions are arrow functions, stable for a filter: no `this` to lose.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const { refresh } = inbox;
  const wasOffline = useRef(false);
  useEffect(() => {
    if (!online) wasOffline.current = true;
    else if (wasOffline.current) {
      wasOffline.current = false;
      refresh();
    }
  }, [online, refresh]);
  const live = inbox.notifications;
  // What arrived live (not through a list the worker saw) is kept too.
  useEffect(() => {
    if (live.length > 0) rememberNotifications(live.map(toKept));
  }, [live]);
  const shown = offline ? (kept ?? []) : live;

  const categories = useMemo(() => {
    const set = new Set(Object.keys(summary?.unreadByCategory ?? {}));
    for (const n of shown) if (n.category) set.add(n.category);
    if (category) set.add(category);
    return [...set].sort();
  }, [summary, shown, category]);

  const picked = shown.filter((n) => selected.has(n.id)).map((n) => n.id);
  const allPicked = shown.length > 0 && picked.length === shown.length;
  const select = (id: string, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const bulk = (fn: (ids: string[]) => Promise<void>) => {
    void fn(picked);
    setSelected(new Set());
  };
  const changeTab = (t: Tab) => {
    setTab(t);
    setSelected(new Set());
  };

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Inbox</h1>
          <p>
            {summary ? `${summary.unread} unread` : 'Loading…'} · live across your tabs and devices
          </p>
        </div>
        <span className="spacer" />
        <button
          type="button"
          className="btn"
          onClick={() => void inbox.markAllRead()}
          disabled={offline || !summary || summary.unread === 0}
        >
          Mark all read
        </button>
      </div>

      <section className="card" aria-label="Notifications">
        <Tabs id="inbox" label="Inbox views" tabs={TABS} value={tab} onChange={changeTab} />
        <div className="filters pad" role="search">
          <label className="field" style={{ flex: '1 1 200px' }}>
            <span>Search</span>
            <input
              type="search"
              className="input"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              placeholder="Search titles"
            />
          </label>
          <SelectField
            label="Category"
            value={category}
            onChange={setCategory}
            options={asOptions(categories)}
            all="All categories"
          />
          <SelectField
            label="Priority"
            value={minPriority}
            onChange={setMinPriority}
            options={PRIORITIES.filter((p) => p !== 'low').map((p) => ({
              value: p,
              label: `${p} or higher`,
            }))}
            all="Any priority"
          />
          <SelectField
            label="Time"
            value={range}
            onChange={(v) => setRange(v || 'any')}
            options={TIME_RANGES}
          />
        </div>
        <div className="bulkbar" aria-label="Selection">
          <label className="row small">
            <input
              type="checkbox"
              className="checkbox"
              checked={allPicked}
              disabled={offline || shown.length === 0}
              onChange={(e) =>
                setSelected(e.target.checked ? new Set(shown.map((n) => n.id)) : new Set())
              }
            />
            Select all shown
          </label>
          {picked.length > 0 && !offline ? (
            <>
              <span className="small muted">{picked.length} selected</span>
              <button
                type="button"
                className="btn btn-small"
                onClick={() => bulk((ids) => inbox.markRead(ids))}
              >
                Mark selected read
              </button>
              <button
                type="button"
                className="btn btn-small"
                onClick={() => bulk((ids) => inbox.markUnread(ids))}
              >
                Mark selected unread
              </button>
              {tab === 'archived' ? (
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => bulk((ids) => inbox.unarchive(ids))}
                >
                  Unarchive selected
                </button>
              ) : (
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => bulk((ids) => inbox.archive(ids))}
                >
                  Archive selected
                </button>
              )}
            </>
          ) : null}
        </div>
        {inbox.actionError ? (
          <p className="error-box" role="alert" style={{ margin: 16 }}>
            That change did not go through: {inbox.actionError.message}
          </p>
        ) : null}
        <div id="inbox-panel" role="tabpanel" aria-labelledby={`inbox-tab-${tab}`}>
          {offline ? (
            <p
              className="note-box"
              role="status"
              data-testid="offline-banner"
              style={{ margin: 16 }}
            >
              {kept === null
                ? 'You are offline.'
                : `You are offline — showing the last ${kept.length} notifications kept on this device.`}
            </p>
          ) : null}
          {offline ? (
            shown.length === 0 ? (
              <p className="empty" data-testid="inbox-empty">
                Nothing kept on this device yet.
              </p>
            ) : (
              <ul className="list" aria-label="Notification list">
                {shown.map((n) => (
                  <Row
                    key={n.id}
                    n={n}
                    readOnly
                    selected={false}
                    onSelect={() => undefined}
                    onRead={() => undefined}
                    onAck={() => undefined}
                    onArchive={() => undefined}
                  />
                ))}
              </ul>
            )
          ) : inbox.status === 'error' ? (
            <p className="error-box" role="alert" style={{ margin: 16 }}>
              The inbox could not be loaded: {inbox.error?.message} ({inbox.error?.code})
            </p>
          ) : inbox.status === 'loading' ? (
            <p className="empty">Loading…</p>
          ) : shown.length === 0 ? (
            <p className="empty" data-testid="inbox-empty">
              {tab === 'unread' ? 'You are all caught up.' : 'Nothing here.'}
            </p>
          ) : (
            <ul className="list" aria-label="Notification list">
              {shown.map((n) => (
                <Row
                  key={n.id}
                  n={n}
                  selected={selected.has(n.id)}
                  onSelect={(on) => select(n.id, on)}
                  onRead={(read) => void (read ? inbox.markRead([n.id]) : inbox.markUnread([n.id]))}
                  onAck={() => void inbox.ack([n.id])}
                  onArchive={(a) => void (a ? inbox.archive([n.id]) : inbox.unarchive([n.id]))}
                />
              ))}
            </ul>
          )}
          {inbox.hasMore && !offline ? (
            <div className="list-foot">
              <button
                type="button"
                className="btn"
                onClick={() => void inbox.loadMore()}
                disabled={inbox.loadingMore}
              >
                {inbox.loadingMore ? 'Loading…' : 'Load more'}
              </button>
            </div>
          ) : null}
        </div>
      </section>
    </>
  );
}
