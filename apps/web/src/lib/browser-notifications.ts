import { useCallback, useState } from 'react';

/** The Notification API's permission, or 'unsupported' where the browser has none. */
export type DesktopPermission = NotificationPermission | 'unsupported';

function current(): DesktopPermission {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/**
 * Desktop notifications, asked for politely: the permission prompt appears only when the user
 * presses the button that calls `request` (never on load, which browsers penalise and users
 * hate), and `show` does nothing unless permission was granted.
 */
export function useDesktopNotifications() {
  const [permission, setPermission] = useState<DesktopPermission>(current);
  const request = useCallback(async () => {
    if (typeof Notification === 'undefined') return;
    setPermission(await Notification.requestPermission());
  }, []);
  return { permission, request };
}

/** Shows a desktop notification when allowed and the page is not in front. */
export function showDesktop(title: string, body: string, tag: string): void {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return;
  try {
    new Notification(title, { body, tag });
  } catch {
    // Some browsers (Android Chrome) allow notifications only from a service worker.
  }
}
