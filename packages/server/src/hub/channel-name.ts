/**
 * Channel names are validated, never truncated or normalised: the name a client asks for is
 * the name that is checked against its grants and the name the broker sees. Segments start
 * with a letter or digit so that "..", "." or "-" can never form a segment of their own.
 */

const SEGMENT = '[A-Za-z0-9][A-Za-z0-9_.@-]*';
const CHANNEL = new RegExp(`^${SEGMENT}(?::${SEGMENT})*$`);
const USER_ID = new RegExp(`^${SEGMENT}$`);

/** Longest accepted channel name, in characters. */
export const MAX_CHANNEL_LENGTH = 128;

export function isValidChannel(name: string): boolean {
  return name.length > 0 && name.length <= MAX_CHANNEL_LENGTH && CHANNEL.test(name);
}

/** A user id becomes the channel `user:{id}`, so it must be one segment. */
export function isValidUserId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_CHANNEL_LENGTH - 5 && USER_ID.test(id);
}

export function userChannel(userId: string): string {
  return `user:${userId}`;
}
