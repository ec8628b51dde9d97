/* Herald's service worker (docs/web-admin.md): Web Push notifications when no tab is in
 * front, a click that focuses or opens the app, and an offline copy of the app shell and of
 * the last notifications (IndexedDB "herald-offline", read by src/push/offline-inbox.ts).
 *
 * A plain script on purpose: it is served as-is from the site root, so its scope is the
 * whole app, and it must not change name between builds (a new name is a new worker). */

const DB_NAME = 'herald-offline';
const STORE = 'notifications';
/** Notifications kept for the offline inbox; older ones are dropped. */
const KEEP = 100;
/** The app shell and its hashed assets, for opening the app offline. */
const SHELL_CACHE = 'herald-shell-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(STORE, { keyPath: 'id' }).createIndex('createdAt', 'createdAt');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Stores notifications (merged into what is kept under the same id), then trims to KEEP. */
async function remember(list) {
  if (list.length === 0) return;
  const db = await openDb();
  try {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      for (const n of list) {
        const get = store.get(n.id);
        get.onsuccess = () => store.put({ ...get.result, ...n });
      }
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const index = tx.objectStore(STORE).index('createdAt');
      const count = index.count();
      count.onsuccess = () => {
        let extra = count.result - KEEP;
        if (extra <= 0) return;
        index.openCursor().onsuccess = (e) => {
          const cursor = e.target.result;
          if (!cursor || extra-- <= 0) return;
          cursor.delete();
          cursor.continue();
        };
      };
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The push payload Herald sends (docs/delivery.md#web-push), as the inbox lists it. */
function fromPush(p) {
  return {
    id: String(p.id),
    title: String(p.title ?? 'Notification'),
    message: String(p.body ?? ''),
    ...(p.url ? { url: String(p.url) } : {}),
    ...(p.category ? { category: String(p.category) } : {}),
    priority: String(p.priority ?? 'normal'),
    createdAt: String(p.createdAt ?? new Date().toISOString()),
  };
}

/** The app's own URL for a notification: its link when it stays on this origin, else the inbox. */
function targetUrl(data) {
  const inbox = new URL('/app/inbox', self.location.origin).href;
  if (!data || !data.url) return inbox;
  try {
    const u = new URL(data.url, self.location.origin);
    return u.origin === self.location.origin ? u.href : inbox;
  } catch {
    return inbox;
  }
}

self.addEventListener('push', (event) => {
  let payload;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (!payload || !payload.id) return;
  const n = fromPush(payload);
  event.waitUntil(
    (async () => {
      await remember([n]).catch(() => undefined);
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const front = windows.find((w) => w.focused && w.visibilityState === 'visible');
      // A tab in front already shows it (the stream, or this message): no system notification.
      if (front) {
        front.postMessage({ type: 'herald.push', notification: n });
        return;
      }
      await self.registration.showNotification(n.title, {
        body: n.message,
        tag: n.id,
        data: { ...n, openUrl: targetUrl(payload) },
        requireInteraction: n.priority === 'critical',
        icon: '/favicon.svg',
      });
    })(),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.openUrl) || targetUrl(null);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const mine = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (!mine) return self.clients.openWindow(url);
      const focused = await mine.focus();
      return focused.url === url ? focused : focused.navigate(url).catch(() => focused);
    })(),
  );
});

/** Pages send { type: "herald.remember", notifications } (src/push/offline-inbox.ts). */
self.addEventListener('message', (event) => {
  const m = event.data;
  if (!m || typeof m.type !== 'string') return;
  if (m.type === 'herald.remember' && Array.isArray(m.notifications)) {
    event.waitUntil(remember(m.notifications.filter((n) => n && n.id)).catch(() => undefined));
  }
});

/** Keeps the inbox's lists as they arrive, so the offline inbox shows the latest ones. */
async function keepList(response) {
  try {
    const body = await response.json();
    if (Array.isArray(body.notifications)) await remember(body.notifications);
  } catch {
    // not a list answer: nothing to keep
  }
}

async function shell(request) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const fresh = await fetch(request);
    if (fresh.ok) await cache.put(request.mode === 'navigate' ? '/app/' : request, fresh.clone());
    return fresh;
  } catch (err) {
    const cached = await cache.match(request.mode === 'navigate' ? '/app/' : request);
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === '/notifications') {
    // Network only (the inbox must never show a stale list online); a copy is kept.
    event.respondWith(
      fetch(req).then((res) => {
        if (res.ok) event.waitUntil(keepList(res.clone()));
        return res;
      }),
    );
    return;
  }
  if (
    (req.mode === 'navigate' && url.pathname.startsWith('/app')) ||
    url.pathname.startsWith('/assets/')
  ) {
    event.respondWith(shell(req));
  }
});
