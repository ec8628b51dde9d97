/**
 * The app's service worker (public/sw.js): registered once per page load by `main.tsx`, so
 * the offline copy of the shell and of the inbox exists before anyone enables push.
 */

export const SW_URL = '/sw.js';

/** True where the browser has service workers (secure origins: https, localhost). */
export const serviceWorkerSupported = (): boolean =>
  typeof navigator !== 'undefined' && 'serviceWorker' in navigator && window.isSecureContext;

/** Registers the worker (a no-op where unsupported); resolves with its registration. */
export async function registerServiceWorker(): Promise<ServiceWorkerRegistration | null> {
  if (!serviceWorkerSupported()) return null;
  try {
    return await navigator.serviceWorker.register(SW_URL, { scope: '/' });
  } catch (err) {
    // No worker means no push and no offline copy; the app itself works without one.
    console.warn('service worker not registered:', err);
    return null;
  }
}

/** The active registration, once the worker is running (null where unsupported). */
export async function activeRegistration(): Promise<ServiceWorkerRegistration | null> {
  if (!serviceWorkerSupported()) return null;
  if (!(await navigator.serviceWorker.getRegistration('/'))) await registerServiceWorker();
  return navigator.serviceWorker.ready;
}

/** A push the worker handed to this tab instead of a system notification (the tab is in front). */
export function onForegroundPush(fn: (n: OfflineNotificationLike) => void): () => void {
  if (!serviceWorkerSupported()) return () => {};
  const listener = (e: MessageEvent) => {
    const m = e.data as { type?: string; notification?: OfflineNotificationLike } | null;
    if (m?.type === 'herald.push' && m.notification) fn(m.notification);
  };
  navigator.serviceWorker.addEventListener('message', listener);
  return () => navigator.serviceWorker.removeEventListener('message', listener);
}

/** What the worker keeps of a notification (the inbox list's fields it needs offline). */
export interface OfflineNotificationLike {
  id: string;
  title: string;
  message: string;
  url?: string;
  category?: string;
  priority: string;
  createdAt: string;
  read?: boolean;
  archived?: boolean;
}
