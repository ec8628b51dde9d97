import type { Priority } from '../inbox/inbox-store.js';
import {
  CHANNELS,
  DEFAULT_DELIVERY_PREFERENCES,
  type Channel,
  type DeliveryPreferences,
} from './delivery-store.js';

/**
 * Which external channels a notification goes out on, and when: a pure function of the
 * user's delivery preferences, the notification, whether the user has a live stream, and the
 * clock, so the whole matrix is tested without a server.
 *
 * - In-app is always on (the inbox and the live stream); nothing here can turn it off.
 * - A channel is on for a category when the category's entry says so, else when the user's
 *   `channels` say so (default: all on). Email needs an address; a digest user gets their
 *   emails as one digest per period instead of one per notification.
 * - A user with a live stream saw the notification arrive: external delivery waits
 *   `unreadDelayMs`, and the sender skips it if it has been read meanwhile (so a
 *   notification read in-app is never emailed). A user without one gets it at once.
 * - Quiet hours (local time in the user's zone) hold every external channel until they end,
 *   unless the priority is at least `bypassPriority`; that priority also skips the digest.
 */

const RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2, critical: 3 };

export interface RouteInput {
  readonly prefs: DeliveryPreferences | undefined;
  readonly notification: {
    readonly category?: string | undefined;
    readonly priority: Priority;
  };
  /** The user has a live stream (on this node). */
  readonly online: boolean;
  readonly now: number;
  /** How long a notification that reached a live stream waits, unread, before going out. */
  readonly unreadDelayMs: number;
}

export interface Route {
  readonly channel: Channel;
  /** Not before this time (ms). */
  readonly notBefore: number;
  /** Email only: collected into the digest of this period instead of sent alone. */
  readonly digest?: {
    readonly period: 'hourly' | 'daily';
    readonly key: string;
    /** The period collected: start <= createdAt < end. */
    readonly start: number;
    readonly end: number;
  };
}

export function channelOn(
  prefs: DeliveryPreferences,
  channel: Channel,
  category?: string,
): boolean {
  const own = category !== undefined ? prefs.categories[category]?.[channel] : undefined;
  return own ?? prefs.channels[channel] ?? true;
}

export function route(input: RouteInput): Route[] {
  const prefs = input.prefs ?? DEFAULT_DELIVERY_PREFERENCES;
  const { now } = input;
  const n = input.notification;
  const urgent = RANK[n.priority] >= RANK[prefs.bypassPriority];
  let notBefore = input.online ? now + input.unreadDelayMs : now;
  if (!urgent && prefs.quietHours) {
    notBefore = Math.max(notBefore, quietUntil(prefs.quietHours, prefs.timeZone, notBefore));
  }
  const routes: Route[] = [];
  for (const channel of CHANNELS) {
    if (!channelOn(prefs, channel, n.category)) continue;
    if (channel === 'email' && !prefs.email) continue;
    if (channel === 'email' && prefs.digest !== 'off' && !urgent) {
      const p = digestPeriod(prefs.digest, prefs.timeZone, now);
      let at = p.end;
      if (prefs.quietHours) at = Math.max(at, quietUntil(prefs.quietHours, prefs.timeZone, at));
      routes.push({
        channel,
        notBefore: at,
        digest: { period: prefs.digest, key: p.key, start: p.start, end: p.end },
      });
      continue;
    }
    routes.push({ channel, notBefore });
  }
  return routes;
}

// ------------------------------------------------------------------------------ local time

const formats = new Map<string, Intl.DateTimeFormat>();

function formatOf(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    if (formats.size > 1000) formats.clear();
    formats.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(name: string): boolean {
  try {
    formatOf(name);
    return true;
  } catch {
    return false;
  }
}

interface LocalTime {
  readonly date: string;
  /** Milliseconds since local midnight. */
  readonly msOfDay: number;
}

export function localTime(at: number, timeZone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatOf(timeZone).formatToParts(new Date(at))) parts[p.type] = p.value;
  const h = Number(parts['hour']);
  const m = Number(parts['minute']);
  const s = Number(parts['second']);
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    msOfDay: ((h * 60 + m) * 60 + s) * 1000 + (at % 1000),
  };
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** Minutes of `HH:MM`. */
export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/**
 * When the quiet hours holding `at` end (ms), or `at` itself when `at` is outside them.
 * Quiet hours may span midnight (`22:00`-`07:00`); start = end means none. On a day the
 * clocks change the end may be an hour off, which only moves a held delivery by that hour.
 */
export function quietUntil(
  q: { start: string; end: string },
  timeZone: string,
  at: number,
): number {
  const start = minutesOf(q.start) * 60_000;
  const end = minutesOf(q.end) * 60_000;
  if (start === end) return at;
  const t = localTime(at, timeZone).msOfDay;
  const inside = start < end ? t >= start && t < end : t >= start || t < end;
  if (!inside) return at;
  return at + ((end - t + DAY) % DAY);
}

/** The digest period holding `at`: its key and when it ends. */
export function digestPeriod(
  period: 'hourly' | 'daily',
  timeZone: string,
  at: number,
): { key: string; start: number; end: number } {
  if (period === 'hourly') {
    const start = Math.floor(at / HOUR) * HOUR;
    return { key: `hourly:${start}`, start, end: start + HOUR };
  }
  const local = localTime(at, timeZone);
  const start = at - local.msOfDay;
  return { key: `daily:${local.date}`, start, end: start + DAY };
}
