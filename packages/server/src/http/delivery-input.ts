import { HeraldError } from '../errors.js';
import { PRIORITIES, type Priority } from '../inbox/inbox-store.js';
import {
  CHANNELS,
  type ChannelSwitches,
  type DeliveryPreferences,
  type JobFilter,
  type JobState,
} from '../delivery/delivery-store.js';
import { isTimeZone } from '../delivery/routing.js';

/** Request parsing for the delivery routes: every field checked once, with a 400 naming it. */

function bad(detail: string): HeraldError {
  return new HeraldError('HERALD_ERR_BAD_REQUEST', detail);
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** A browser's `PushSubscription.toJSON()`. */
export function parsePushSubscription(body: unknown): {
  endpoint: string;
  p256dh: string;
  auth: string;
} {
  const invalid = (detail: string) =>
    new HeraldError('HERALD_ERR_PUSH_SUBSCRIPTION_INVALID', detail);
  if (typeof body !== 'object' || body === null) throw invalid('the body must be an object');
  const b = body as Record<string, unknown>;
  const endpoint = b['endpoint'];
  const keys = b['keys'] as Record<string, unknown> | undefined;
  if (typeof endpoint !== 'string' || endpoint.length > 2048)
    throw invalid('"endpoint" must be a URL');
  try {
    new URL(endpoint);
  } catch {
    throw invalid('"endpoint" must be a URL');
  }
  const p256dh = keys?.['p256dh'];
  const auth = keys?.['auth'];
  // p256dh: an uncompressed P-256 point (65 bytes, 87 base64url characters); auth: 16 bytes.
  if (
    typeof p256dh !== 'string' ||
    !BASE64URL.test(p256dh) ||
    Buffer.from(p256dh, 'base64url').length !== 65
  ) {
    throw invalid('"keys.p256dh" must be the 65-byte P-256 key, base64url');
  }
  if (
    typeof auth !== 'string' ||
    !BASE64URL.test(auth) ||
    Buffer.from(auth, 'base64url').length !== 16
  ) {
    throw invalid('"keys.auth" must be the 16-byte auth secret, base64url');
  }
  return { endpoint, p256dh, auth };
}

function switches(value: unknown, name: string): ChannelSwitches {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad(`"${name}" must be an object of channel: true|false`);
  }
  const out: Partial<Record<(typeof CHANNELS)[number], boolean>> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'inApp' || k === 'in_app') {
      if (v !== true) throw bad(`"${name}.${k}": in-app delivery is always on`);
      continue;
    }
    if (!(CHANNELS as readonly string[]).includes(k)) {
      throw bad(`"${name}" names an unknown channel "${k}" (push, email, webhook)`);
    }
    if (typeof v !== 'boolean') throw bad(`"${name}.${k}" must be true or false`);
    out[k as (typeof CHANNELS)[number]] = v;
  }
  return out;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const EMAIL = /^[^\s@<>(),;:"[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}$/;

export function parseDeliveryPreferences(body: Record<string, unknown>): DeliveryPreferences {
  const tz = body['timeZone'] ?? 'UTC';
  if (typeof tz !== 'string' || tz.length > 64 || !isTimeZone(tz)) {
    throw bad('"timeZone" must be an IANA time zone such as "Europe/Berlin"');
  }
  const email = body['email'];
  if (email !== undefined && email !== null && (typeof email !== 'string' || !EMAIL.test(email))) {
    throw bad('"email" must be an email address');
  }
  const cats = body['categories'] ?? {};
  if (
    typeof cats !== 'object' ||
    cats === null ||
    Array.isArray(cats) ||
    Object.keys(cats).length > 100
  ) {
    throw bad('"categories" must be an object of at most 100 categories');
  }
  const categories: Record<string, ChannelSwitches> = {};
  for (const [k, v] of Object.entries(cats as Record<string, unknown>)) {
    if (k.length === 0 || k.length > 64) throw bad('category names are 1-64 characters');
    categories[k] = switches(v, `categories.${k}`);
  }
  const q = body['quietHours'];
  let quietHours: DeliveryPreferences['quietHours'];
  if (q !== undefined && q !== null) {
    const o = q as Record<string, unknown>;
    if (
      typeof q !== 'object' ||
      typeof o['start'] !== 'string' ||
      typeof o['end'] !== 'string' ||
      !HHMM.test(o['start']) ||
      !HHMM.test(o['end'])
    ) {
      throw bad('"quietHours" must be { "start": "HH:MM", "end": "HH:MM" } (local time)');
    }
    quietHours = { start: o['start'], end: o['end'] };
  }
  const bypass = body['bypassPriority'] ?? 'critical';
  if (typeof bypass !== 'string' || !(PRIORITIES as readonly string[]).includes(bypass)) {
    throw bad(`"bypassPriority" must be one of ${PRIORITIES.join(', ')}`);
  }
  const digest = body['digest'] ?? 'off';
  if (digest !== 'off' && digest !== 'hourly' && digest !== 'daily') {
    throw bad('"digest" must be off, hourly or daily');
  }
  return {
    timeZone: tz,
    ...(typeof email === 'string' ? { email } : {}),
    channels: { push: true, email: true, webhook: true, ...switches(body['channels'], 'channels') },
    categories,
    ...(quietHours ? { quietHours } : {}),
    bypassPriority: bypass as Priority,
    digest,
  };
}

const STATES: readonly JobState[] = ['pending', 'sent', 'failed', 'skipped'];

export function parseJobFilter(q: Record<string, unknown>): JobFilter {
  const out: { -readonly [K in keyof JobFilter]: JobFilter[K] } = {};
  const state = q['state'];
  if (state !== undefined) {
    if (typeof state !== 'string' || !(STATES as readonly string[]).includes(state)) {
      throw bad(`"state" must be one of ${STATES.join(', ')}`);
    }
    out.state = state as JobState;
  }
  const channel = q['channel'];
  if (channel !== undefined) {
    if (typeof channel !== 'string' || ![...CHANNELS, 'digest'].includes(channel)) {
      throw bad('"channel" must be push, email, webhook or digest');
    }
    out.channel = channel as JobFilter['channel'];
  }
  for (const k of ['userId', 'notificationId'] as const) {
    const v = q[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length === 0 || v.length > 200)
      throw bad(`"${k}" must be 1-200 characters`);
    out[k] = v;
  }
  return out;
}
