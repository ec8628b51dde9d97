/**
 * Channel grants: which channels a principal may read or write.
 *
 * A grant is an exact channel name, or a prefix pattern "segment:...:*" that matches any
 * channel strictly below that prefix ("chat:*" matches "chat:lobby", not "chat" and not
 * "chatroom"). A bare "*" matches nothing: wildcard-everything grants are how hubs leak
 * every user's channel, so an all-channel grant must be asked for explicitly by the
 * publisher-key configuration, never smuggled in through a token claim. Grants are compared
 * as strings only; user input never becomes a regular expression or a broker pattern.
 */
export function grantMatches(grant: string, channel: string): boolean {
  if (grant.endsWith(':*')) {
    const prefix = grant.slice(0, -1); // keep the trailing ":"
    return prefix.length > 1 && channel.length > prefix.length && channel.startsWith(prefix);
  }
  return grant === channel;
}

export function anyGrantMatches(grants: readonly string[], channel: string): boolean {
  for (const g of grants) if (grantMatches(g, channel)) return true;
  return false;
}
