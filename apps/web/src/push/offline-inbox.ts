import type { OfflineNotificationLike } from './service-worker.js';

/**
 * The offline inbox: the last notifications the service worker kept (from push messages and
 * from every `GET /notifications` list the inbox loaded), in IndexedDB `herald-offline`.
 * The worker writes and trims (public/sw.js); the page reads, and hands the worker the
 * notifications it received live so they are kept too.
 */

export type OfflineNotification = OfflineNotificationLike;

const DB_NAME = 'herald-offline';
const STORE = 'notifications';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    // Version 1, as sw.js opens it: whichever opens first creates the store.
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () =>
      req.result.createObjectStore(STORE, { keyPath: 'id' }).createIndex('createdAt', 'createdAt');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB refused'));
  });
}

/**
 * The kept notifications, newest first (at most 100). Empty where IndexedDB is missing or
 * nothing was kept yet; never throws.
 */
export async function offlineNotifications(): Promise<OfflineNotification[]> {
  if (typeof indexedDB === 'undefined') return [];
  try {
    const db = await openDb();
    try {
      const all = await new Promise<OfflineNotification[]>((resolve, reject) => {
        const req = db.transaction(STORE).objectStore(STORE).index('createdAt').getAll();
        req.onsuccess = () => resolve(req.result as OfflineNotification[]);
        req.onerror = () => reject(req.error ?? new Error('read failed'));
      });
      return all.reverse();
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

/** Hands notifications received live (on the stream) to the worker to keep. */
export function rememberNotifications(list: readonly OfflineNotification[]): void {
  const worker = typeof navigator !== 'undefined' ? navigator.serviceWorker?.controller : null;
  worker?.postMessage({ type: 'herald.remember', notifications: list });
}

/** Deletes the kept notifications: call it on sign-out (the next user must not see them). */
export async function forgetOfflineNotifications(): Promise<void> {
  if (typeof indexedDB === 'undefined') return;
  try {
    const db = await openDb();
    try {
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction(STORE, 'readwrite');
        tx.objectStore(STORE).clear();
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error ?? new Error('clear failed'));
      });
    } finally {
      db.close();
    }
  } catch {
    // nothing kept, nothing to forget
  }
}
