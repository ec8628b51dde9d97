// Herald demo page: one EventSource per user, toasts + browser notifications, a send form.
// Plain browser JavaScript, no build step. All server text is rendered with textContent.

const HISTORY_MAX = 50;
const TOASTS_MAX = 4;
const TOAST_MS = 8000;
const SEEN_MAX = 1000;
const NOTIFIED_KEY = 'herald.notified';

const $ = (id) => document.getElementById(id);
const el = {
  state: $('state'),
  stateText: $('state-text'),
  connectForm: $('connect-form'),
  userId: $('user-id'),
  connect: $('connect'),
  disconnect: $('disconnect'),
  connectStatus: $('connect-status'),
  permission: $('permission'),
  permissionState: $('permission-state'),
  sendForm: $('send-form'),
  sendTo: $('send-to'),
  sendToRow: $('send-to-row'),
  sendToLabel: $('send-to-label'),
  sendTitle: $('send-title'),
  sendMessage: $('send-message'),
  send: $('send'),
  sendStatus: $('send-status'),
  history: $('history'),
  historyCount: $('history-count'),
  historyEmpty: $('history-empty'),
  clear: $('clear'),
  toasts: $('toasts'),
};

/** @type {EventSource | null} */
let source = null;
/** @type {{ userId: string, token: string, channels: string[] } | null} */
let session = null;
/** Last SSE id seen (a resume cursor) and the user it belongs to. */
let cursor = { userId: '', id: '' };
let retryTimer = 0;
let attempts = 0;
let everConnected = false;
/** Bumped by every connect/disconnect so late answers of an older attempt are ignored. */
let generation = 0;
/** Notification ids already shown on this page (reconnects, replays, duplicates). */
const seen = new Set();

// ---------------------------------------------------------------- connection state

const STATE_TEXT = {
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
};

function setState(state, detail = '') {
  el.state.dataset.state = state;
  el.stateText.textContent = STATE_TEXT[state] + (detail ? ` · ${detail}` : '');
  const active = state !== 'disconnected';
  el.disconnect.disabled = !active;
  el.userId.disabled = active;
  el.connect.disabled = active;
}

function status(node, text, kind = 'info') {
  node.textContent = text;
  node.dataset.kind = kind;
}

class HttpError extends Error {
  constructor(message, httpStatus) {
    super(message);
    this.status = httpStatus;
  }
}

/** POSTs JSON; resolves with the body, or throws with the server's documented message. */
async function postJson(path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch {
    throw new HttpError('Cannot reach the server.', 0);
  }
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const e = json && json.error;
    const text = e && e.message ? e.message + (e.detail ? ` (${e.detail})` : '') : '';
    throw new HttpError(text || `Request failed: HTTP ${res.status}.`, res.status);
  }
  return json;
}

async function login(userId) {
  const r = await postJson('dev/token', { userId });
  return { userId: r.userId, token: r.token, channels: r.channels };
}

function connect(userId) {
  disconnect();
  requestPermission();
  attempts = 0;
  everConnected = false;
  setState('connecting');
  status(el.connectStatus, '');
  if (cursor.userId !== userId) cursor = { userId, id: '' };
  void start(userId);
}

async function start(userId) {
  const gen = generation;
  let next;
  try {
    next = await login(userId);
  } catch (err) {
    if (gen !== generation) return;
    // Network trouble and 5xx are retried once we were connected; a refused user id is not.
    if (everConnected && (err.status === 0 || err.status >= 500)) return scheduleRetry();
    setState('disconnected');
    status(el.connectStatus, err.message, 'error');
    return;
  }
  if (gen !== generation) return;
  session = next;
  if (!el.sendTo.value) el.sendTo.value = session.userId;
  open();
}

function open() {
  const params = new URLSearchParams({
    channels: session.channels.join(','),
    token: session.token,
  });
  // Resume where we left off (the page's own reconnects lose EventSource's Last-Event-ID).
  if (cursor.id) params.set('lastEventId', cursor.id);
  const es = new EventSource(`events?${params}`);
  source = es;
  const track = (e) => {
    if (e.lastEventId) cursor.id = e.lastEventId;
  };

  es.addEventListener('connected', (e) => {
    track(e);
    attempts = 0;
    everConnected = true;
    setState('connected', `as ${session.userId}`);
    status(el.connectStatus, `Listening on ${session.channels.join(', ')}.`);
  });
  es.addEventListener('notification', (e) => {
    track(e);
    const n = parse(e.data);
    if (n && typeof n === 'object') show(n);
  });
  es.addEventListener('message', (e) => {
    track(e);
    const data = parse(e.data);
    if (data && typeof data === 'object' && typeof data.title === 'string') show(data);
    else show({ title: 'Message', message: typeof data === 'string' ? data : e.data });
  });
  es.addEventListener('reset', (e) => {
    track(e);
    const r = parse(e.data) || {};
    status(
      el.connectStatus,
      `Could not resume some earlier notifications (${r.reason || 'reset'}).`,
      'warn',
    );
  });
  es.addEventListener('shutdown', () => setState('reconnecting', 'server restarting'));
  es.addEventListener('token-expired', () => {
    es.close();
    scheduleRetry(0);
  });
  es.addEventListener('stream-error', (e) => {
    if (source !== es) return;
    // The server reports a failure after the stream started, then closes it.
    const body = parse(e.data) || {};
    status(el.connectStatus, body.message || 'Stream error.', 'error');
  });
  es.addEventListener('error', () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      setState(everConnected ? 'reconnecting' : 'connecting');
    } else if (everConnected) {
      // CLOSED after a refusal (e.g. 503 while a node drains): retry with a fresh token.
      es.close();
      scheduleRetry();
    } else {
      source = null;
      setState('disconnected');
      status(el.connectStatus, 'The server refused the stream.', 'error');
    }
  });
}

function scheduleRetry(delay = Math.min(30_000, 1000 * 2 ** attempts)) {
  source = null;
  attempts++;
  clearTimeout(retryTimer);
  setState('reconnecting', delay ? `retry in ${Math.round(delay / 1000)} s` : '');
  const userId = session.userId;
  retryTimer = setTimeout(() => void start(userId), delay);
}

function disconnect() {
  generation++;
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setState('disconnected');
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------- notifications

function show(n) {
  const title = String(n.title ?? 'Notification');
  const message = String(n.message ?? '');
  const id = typeof n.id === 'string' && n.id ? n.id : '';
  if (id) {
    if (seen.has(id)) return;
    seen.add(id);
    if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  }
  const item = { id, title, message, url: safeUrl(n.url), sentAt: n.sentAt, n };
  addHistory(item);
  addToast(item);
  systemNotification(item);
}

function safeUrl(url) {
  if (typeof url !== 'string') return '';
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
  } catch {
    return '';
  }
}

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

function meta(item) {
  const parts = [];
  const when = item.sentAt ? new Date(item.sentAt) : new Date();
  parts.push(isNaN(when) ? '' : when.toLocaleTimeString());
  if (typeof item.n.category === 'string') parts.push(item.n.category);
  if (typeof item.n.priority === 'string' || typeof item.n.priority === 'number')
    parts.push(`priority ${item.n.priority}`);
  return parts.filter(Boolean).join(' · ');
}

function addHistory(item) {
  const li = node('li', 'entry');
  li.dataset.testid = 'history-item';
  if (item.id) li.dataset.id = item.id;
  li.append(node('strong', 'title', item.title), node('p', 'message', item.message));
  const m = node('p', 'meta', meta(item));
  if (item.url) {
    const a = node('a', '', 'open');
    a.href = item.url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    m.append(' · ', a);
  }
  li.append(m);
  el.history.prepend(li);
  while (el.history.children.length > HISTORY_MAX) el.history.lastElementChild.remove();
  updateCount();
}

function updateCount() {
  const count = el.history.children.length;
  el.historyCount.textContent = String(count);
  el.historyEmpty.hidden = count > 0;
}

function addToast(item) {
  const toast = node('div', 'toast');
  toast.dataset.testid = 'toast';
  const close = node('button', 'close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', `Dismiss ${item.title}`);
  close.addEventListener('click', () => toast.remove());
  toast.append(node('strong', 'title', item.title), node('p', 'message', item.message), close);
  el.toasts.append(toast);
  while (el.toasts.children.length > TOASTS_MAX) el.toasts.firstElementChild.remove();
  setTimeout(() => toast.remove(), TOAST_MS);
}

/** A browser notification, once per id across tabs (the tag also merges duplicates). */
function systemNotification(item) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  if (item.id && !claim(item.id)) return;
  try {
    const sys = new Notification(item.title, {
      body: item.message,
      ...(item.id ? { tag: item.id } : {}),
    });
    sys.addEventListener('click', () => {
      window.focus();
      if (item.url) window.open(item.url, '_blank', 'noopener');
      sys.close();
    });
  } catch {
    // Some browsers only allow notifications from a service worker: the toast is enough.
  }
}

function claim(id) {
  try {
    const list = JSON.parse(localStorage.getItem(NOTIFIED_KEY) || '[]');
    if (list.includes(id)) return false;
    list.push(id);
    localStorage.setItem(NOTIFIED_KEY, JSON.stringify(list.slice(-200)));
  } catch {
    // storage unavailable: rely on the tag
  }
  return true;
}

function showPermission() {
  if (!('Notification' in window)) {
    el.permission.hidden = true;
    el.permissionState.textContent = 'Browser notifications are not supported here; toasts only.';
    return;
  }
  const p = Notification.permission;
  el.permission.hidden = p !== 'default';
  el.permissionState.dataset.permission = p;
  el.permissionState.textContent =
    p === 'granted'
      ? 'Browser notifications are on.'
      : p === 'denied'
        ? 'Browser notifications are blocked in the browser settings; toasts only.'
        : '';
}

function requestPermission() {
  if (!('Notification' in window) || Notification.permission !== 'default') return;
  Notification.requestPermission()
    .catch(() => undefined)
    .then(showPermission);
}

// ---------------------------------------------------------------- send form

function target() {
  return el.sendForm.elements.namedItem('target').value;
}

function updateTarget() {
  const t = target();
  // "Everyone" goes to the public channel `broadcast`: no recipients to enter.
  el.sendTo.disabled = el.sendToRow.hidden = t === 'everyone';
  el.sendToLabel.textContent = t === 'users' ? 'User ids (comma-separated)' : 'User id';
  el.sendTo.placeholder = t === 'users' ? 'alice, bob' : 'alice';
}

async function send(event) {
  event.preventDefault();
  const title = el.sendTitle.value.trim();
  const message = el.sendMessage.value.trim();
  const t = target();
  const users = el.sendTo.value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!title || !message) return status(el.sendStatus, 'Enter a title and a message.', 'error');
  let path = 'broadcast';
  let body = { title, message };
  if (t === 'user') {
    if (users.length !== 1) return status(el.sendStatus, 'Enter one user id.', 'error');
    path = `notify/${encodeURIComponent(users[0])}`;
  } else if (t === 'users') {
    if (users.length === 0) return status(el.sendStatus, 'Enter at least one user id.', 'error');
    body = { users, title, message };
  }
  el.send.disabled = true;
  status(el.sendStatus, 'Sending…');
  try {
    if (!session) session = await login(el.userId.value.trim());
    const r = await postJson(path, body, session.token);
    const n = r.ids.length;
    status(el.sendStatus, `Sent (${n} notification${n === 1 ? '' : 's'}).`, 'ok');
  } catch (err) {
    status(el.sendStatus, err.message, 'error');
  } finally {
    el.send.disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

el.connectForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const userId = el.userId.value.trim();
  if (!userId) return status(el.connectStatus, 'Enter a user id.', 'error');
  if (session && session.userId !== userId) session = null;
  connect(userId);
});
el.disconnect.addEventListener('click', () => {
  disconnect();
  status(el.connectStatus, '');
});
el.permission.addEventListener('click', requestPermission);
el.sendForm.addEventListener('submit', send);
el.sendForm.addEventListener('change', updateTarget);
el.clear.addEventListener('click', () => {
  el.history.replaceChildren();
  updateCount();
});
window.addEventListener('pagehide', () => source && source.close());

showPermission();
updateTarget();
updateCount();
setState('disconnected');
