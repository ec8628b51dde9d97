import { isIPv4, isIPv6 } from 'node:net';

/**
 * The subject of per-address limits for a client address (`req.ip`).
 *
 * IPv4 addresses count one by one. IPv6 addresses count by their /64 prefix: one customer
 * line or host is routinely given a whole /64, so an attacker has 2^64 addresses to rotate
 * through, and a per-address limit on IPv6 would limit nothing. IPv4-mapped IPv6
 * (`::ffff:192.0.2.1`, what a dual-stack socket reports for IPv4 clients) counts as the IPv4
 * address it carries, so one client cannot be two subjects.
 */
export function addressSubject(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(ip)) return ip;
  if (isIPv6(ip)) {
    const groups = expandIPv6(ip);
    if (groups) return `${groups.slice(0, 4).join(':')}::/64`;
  }
  // Not an address (a unix socket, a test double): count it as given.
  return ip;
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function expandIPv6(ip: string): string[] | undefined {
  let text = ip.split('%')[0] ?? ip; // drop a zone id (fe80::1%eth0)
  // A trailing dotted IPv4 part (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const b = v4[1].split('.').map(Number);
    const hi = (((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16);
    const lo = (((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16);
    text = text.slice(0, -v4[1].length) + `${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0) return undefined;
  const groups = [...head, ...new Array<string>(fill).fill('0'), ...tail];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => parseInt(g, 16).toString(16));
}
