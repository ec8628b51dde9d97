import type { HeraldApi } from '@herald/client/inbox';
import { activeRegistration, serviceWorkerSupported } from './service-worker.js';

/** Why this browser cannot take push messages, or null when it can. */
export function pushUnsupportedReason(): string | null {
  if (typeof window === 'undefined') return 'not in a browser';
  if (!window.isSecureContext) return 'push needs a secure origin (https or localhost)';
  if (!serviceWorkerSupported()) return 'this browser has no service workers';
  if (!('PushManager' in window)) return 'this browser has no Web Push';
  if (!('Notification' in window)) return 'this browser cannot show notifications';
  return null;
}

/** The VAPID key as the bytes `pushManager.subscribe` takes (every browser accepts these). */
function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** This browser's current push subscription (null when none). */
export async function deviceSubscription(): Promise<PushSubscription | null> {
  if (pushUnsupportedReason()) return null;
  const reg = await activeRegistration();
  return reg ? reg.pushManager.getSubscription() : null;
}

/**
 * Subscribes this browser (asks for the notification permission first, so call it from a
 * click) and registers the subscription with Herald.
 */
export async function subscribeDevice(api: HeraldApi): Promise<PushSubscription> {
  const why = pushUnsupportedReason();
  if (why) throw new Error(why);
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new Error(
      permission === 'denied'
        ? 'Notifications are blocked for this site: allow them in the browser settings.'
        : 'Notifications were not allowed.',
    );
  }
  const reg = await activeRegistration();
  if (!reg) throw new Error('the service worker is not running');
  const { publicKey } = await api.get<{ publicKey: string }>('/push/vapid-public-key');
  const existing = await reg.pushManager.getSubscription();
  let sub = existing;
  try {
    sub ??= await reg.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(publicKey),
    });
  } catch (err) {
    // Chromium refuses in private windows, and when its push service cannot be reached.
    throw new Error(
      `The browser refused to subscribe (${err instanceof Error ? err.message : String(err)}). Private windows cannot receive push.`,
    );
  }
  await api.post('/push/subscriptions', sub.toJSON());
  return sub;
}

/** Removes this browser's subscription from Herald and from the browser's push service. */
export async function unsubscribeDevice(api: HeraldApi): Promise<void> {
  const sub = await deviceSubscription();
  if (!sub) return;
  try {
    await api.request('DELETE', '/push/subscriptions', { endpoint: sub.endpoint });
  } catch (err) {
    // Already gone on Herald's side is fine: the browser's half still goes below.
    if ((err as { code?: string }).code !== 'HERALD_ERR_PUSH_SUBSCRIPTION_NOT_FOUND') throw err;
  }
  await sub.unsubscribe();
}
