import { randomFillSync } from 'node:crypto';

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where the two hex digits of each of the 16 bytes go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const SLOTS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
/** Random bytes for 256 ids, refilled when used up. */
const random = Buffer.alloc(16 * 256);
let at = random.length;
/** The text being built; the dashes stay in place. */
const text = Buffer.alloc(36);
text[8] = text[13] = text[18] = text[23] = 0x2d;

/**
 * A random (version 4) UUID, the id of an event published without one. Same format and
 * randomness as `crypto.randomUUID()`, which also draws from a pool; but that one joins 20
 * strings per id (about 500 bytes of garbage, the largest single source on the durable publish
 * path), where this writes the 36 characters into a buffer and makes one string of them.
 */
export function newEventId(): string {
  return uuid(0x40, -1);
}

/**
 * A time-ordered (version 7) UUID: 48 bits of milliseconds, then 74 random bits. Ids made
 * later sort later, so rows keyed by them are appended at the end of their primary-key index
 * instead of landing on a random page of it (inbox notifications: one page written per
 * commit instead of one per row).
 */
export function newTimeOrderedId(ms = Date.now()): string {
  return uuid(0x70, ms);
}

/** `version` in the high nibble of byte 6; bytes 0-5 are `ms` big-endian unless it is < 0. */
function uuid(version: number, ms: number): string {
  if (at === random.length) {
    randomFillSync(random);
    at = 0;
  }
  for (let i = 0; i < 16; i++) {
    let b = random[at + i]!;
    if (i < 6 && ms >= 0) b = Math.floor(ms / 2 ** (8 * (5 - i))) & 0xff;
    else if (i === 6) b = (b & 0x0f) | version;
    else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 4122 variant
    const s = SLOTS[i]!;
    text[s] = HEX[b >> 4]!;
    text[s + 1] = HEX[b & 15]!;
  }
  at += 16;
  return text.toString('latin1', 0, 36);
}
