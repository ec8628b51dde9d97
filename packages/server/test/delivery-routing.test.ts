import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DELIVERY_PREFERENCES,
  type DeliveryPreferences,
} from '../src/delivery/delivery-store.js';
import { digestPeriod, quietUntil, route } from '../src/delivery/routing.js';

const prefs = (p: Partial<DeliveryPreferences> = {}): DeliveryPreferences => ({
  ...DEFAULT_DELIVERY_PREFERENCES,
  email: 'ann@example.org',
  ...p,
});
// 2026-12-07 12:00 UTC, a Monday.
const NOON = Date.UTC(2026, 11, 7, 12, 0, 0);
const DELAY = 300_000;
const at = (iso: string) => Date.parse(iso);
const channels = (r: ReturnType<typeof route>) => r.map((x) => x.channel);

describe('routing by preference', () => {
  const base = {
    notification: { priority: 'normal' as const },
    online: false,
    now: NOON,
    unreadDelayMs: DELAY,
  };

  it('with no preferences: push and webhook at once, no email without an address', () => {
    const r = route({ ...base, prefs: undefined });
    expect(r).toEqual([
      { channel: 'push', notBefore: NOON },
      { channel: 'webhook', notBefore: NOON },
    ]);
  });

  it('in-app only: every external channel off', () => {
    const p = prefs({ channels: { push: false, email: false, webhook: false } });
    expect(route({ ...base, prefs: p })).toEqual([]);
  });

  it('a category entry overrides the user-wide switches, for that category only', () => {
    const p = prefs({
      channels: { push: false, email: true, webhook: false },
      categories: { billing: { push: true, email: false } },
    });
    expect(
      channels(
        route({ ...base, prefs: p, notification: { priority: 'normal', category: 'billing' } }),
      ),
    ).toEqual(['push']);
    expect(
      channels(
        route({ ...base, prefs: p, notification: { priority: 'normal', category: 'social' } }),
      ),
    ).toEqual(['email']);
    expect(channels(route({ ...base, prefs: p }))).toEqual(['email']);
  });

  it('a user with a live stream gets external delivery only after the unread delay', () => {
    const r = route({ ...base, prefs: prefs(), online: true });
    expect(r.map((x) => x.notBefore)).toEqual([NOON + DELAY, NOON + DELAY, NOON + DELAY]);
  });

  it("quiet hours in the user's time zone hold delivery until they end", () => {
    // 12:00 UTC is 21:00 in Tokyo (UTC+9): inside 20:00-08:00, which ends 11 hours later.
    const p = prefs({ timeZone: 'Asia/Tokyo', quietHours: { start: '20:00', end: '08:00' } });
    const r = route({ ...base, prefs: p });
    expect(r.map((x) => x.notBefore)).toEqual(Array(3).fill(at('2026-12-07T23:00:00Z')));
    // The same hours in New York (UTC-5, 07:00 local): also quiet, ending at 08:00 local.
    const ny = prefs({
      timeZone: 'America/New_York',
      quietHours: { start: '20:00', end: '08:00' },
    });
    expect(route({ ...base, prefs: ny, now: at('2026-12-07T12:00:00Z') })[0]!.notBefore).toBe(
      at('2026-12-07T13:00:00Z'),
    );
    // Outside them (Berlin, 13:00 local): at once.
    const berlin = prefs({
      timeZone: 'Europe/Berlin',
      quietHours: { start: '20:00', end: '08:00' },
    });
    expect(route({ ...base, prefs: berlin })[0]!.notBefore).toBe(NOON);
  });

  it('a priority at or above bypassPriority goes out during quiet hours', () => {
    const p = prefs({
      timeZone: 'Asia/Tokyo',
      quietHours: { start: '20:00', end: '08:00' },
      bypassPriority: 'high',
    });
    expect(route({ ...base, prefs: p, notification: { priority: 'high' } })[0]!.notBefore).toBe(
      NOON,
    );
    expect(route({ ...base, prefs: p, notification: { priority: 'critical' } })[0]!.notBefore).toBe(
      NOON,
    );
    expect(route({ ...base, prefs: p, notification: { priority: 'normal' } })[0]!.notBefore).toBe(
      at('2026-12-07T23:00:00Z'),
    );
  });

  it('quiet hours after the unread delay: the later of the two', () => {
    const p = prefs({ quietHours: { start: '12:03', end: '13:00' } });
    const r = route({ ...base, prefs: p, online: true });
    expect(r[0]!.notBefore).toBe(at('2026-12-07T13:00:00Z'));
  });

  it("digest users get their email in the period's digest; push is unchanged; urgent skips the digest", () => {
    const p = prefs({ digest: 'hourly' });
    const r = route({ ...base, prefs: p, now: NOON + 10 * 60_000 });
    expect(r.find((x) => x.channel === 'push')?.notBefore).toBe(NOON + 10 * 60_000);
    expect(r.find((x) => x.channel === 'email')).toEqual({
      channel: 'email',
      notBefore: NOON + 3_600_000,
      digest: { period: 'hourly', key: `hourly:${NOON}`, start: NOON, end: NOON + 3_600_000 },
    });
    const urgent = route({ ...base, prefs: p, notification: { priority: 'critical' } });
    expect(urgent.find((x) => x.channel === 'email')).toEqual({
      channel: 'email',
      notBefore: NOON,
    });
    const daily = route({ ...base, prefs: prefs({ digest: 'daily', timeZone: 'Asia/Tokyo' }) });
    // 21:00 in Tokyo on the 7th: the day's digest goes at local midnight (15:00 UTC).
    expect(daily.find((x) => x.channel === 'email')?.digest).toEqual({
      period: 'daily',
      key: 'daily:2026-12-07',
      start: at('2026-12-06T15:00:00Z'),
      end: at('2026-12-07T15:00:00Z'),
    });
  });

  it('quiet hours: spanning midnight, ending at once, equal start and end', () => {
    const q = { start: '22:00', end: '07:00' };
    expect(quietUntil(q, 'UTC', at('2026-12-07T23:30:00Z'))).toBe(at('2026-12-08T07:00:00Z'));
    expect(quietUntil(q, 'UTC', at('2026-12-07T03:00:00Z'))).toBe(at('2026-12-07T07:00:00Z'));
    expect(quietUntil(q, 'UTC', at('2026-12-07T07:00:00Z'))).toBe(at('2026-12-07T07:00:00Z'));
    expect(quietUntil({ start: '10:00', end: '10:00' }, 'UTC', NOON)).toBe(NOON);
    expect(digestPeriod('hourly', 'UTC', NOON + 1).end).toBe(NOON + 3_600_000);
  });
});
