import { HeraldError } from '../errors.js';
import { isValidChannel, isValidUserId, userChannel } from '../hub/channel-name.js';

/** Event types: 1-64 visible characters, no whitespace, CR, LF or NUL (they would forge SSE fields). */
const EVENT_TYPE = /^[^\s\0]{1,64}$/;

export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export function eventType(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !EVENT_TYPE.test(value)) {
    throw new HeraldError('HERALD_ERR_INVALID_EVENT_TYPE', `type ${JSON.stringify(value)}`);
  }
  return value;
}

export function channelName(value: unknown): string {
  if (typeof value !== 'string' || !isValidChannel(value)) {
    throw new HeraldError(
      'HERALD_ERR_INVALID_CHANNEL',
      `channel ${JSON.stringify(value)?.slice(0, 140)}`,
    );
  }
  return value;
}

export function userChannelOf(value: unknown): string {
  if (typeof value !== 'string' || !isValidUserId(value)) {
    throw new HeraldError(
      'HERALD_ERR_INVALID_CHANNEL',
      `user id ${JSON.stringify(value)?.slice(0, 140)}`,
    );
  }
  return userChannel(value);
}

/**
 * The wire text of a publish's `data`: always its JSON text, strings included (`"a\r\nb"`
 * goes out as the 8 characters `"a\r\nb"`). SSE splits lines on CR, LF and CRLF and a
 * browser's EventSource turns a lone surrogate into U+FFFD, so a raw string could not come
 * back as sent; JSON escapes CR, LF, NUL and lone surrogates, so `JSON.parse(event.data)`
 * gives back exactly the published value, whatever it is (docs/protocol.md#data).
 */
export function wireData(value: unknown): string {
  if (value === undefined) throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"data" is required');
  return JSON.stringify(value);
}

export function optionalBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', `"${name}" must be a boolean`);
  return value;
}

export function requiredString(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new HeraldError(
      'HERALD_ERR_BAD_REQUEST',
      `"${name}" must be a string of 1-${max} characters`,
    );
  }
  return value;
}

export function distinct(channels: readonly string[], max: number): string[] {
  const out = [...new Set(channels)];
  if (out.length === 0) throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'no channel given');
  if (out.length > max)
    throw new HeraldError('HERALD_ERR_TOO_MANY_CHANNELS', `${out.length} > ${max}`);
  return out;
}
