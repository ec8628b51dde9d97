import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Outgoing requests to URLs that users chose (webhooks, push endpoints). A URL is an SSRF
 * risk: pointed at 127.0.0.1, 10.x, 169.254.169.254 (cloud metadata) or a host that
 * resolves there, Herald would post from inside the network. So every connection checks the
 * address it actually connects to, after DNS resolution (a custom `lookup`, so a name cannot
 * resolve to one address when checked and another when used), and every redirect is checked
 * again the same way. Addresses in the operator's allow-list (`deliveryAllowedAddresses`)
 * are let through.
 */

const REFUSED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local (fd00:ec2::254 is a metadata address)
  ['fe80::', 10], // link-local
  ['fec0::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv6');
}

/** An IPv4 address carried in an IPv6 one (`::ffff:127.0.0.1`, NAT64 `64:ff9b::7f00:1`). */
function embeddedV4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The operator's allow-list: addresses and CIDR ranges (`127.0.0.1`, `10.1.0.0/16`, `::1`). */
export function allowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const family = isIP(addr ?? '');
    if (family === 0) throw new Error(`"${e}" is not an IP address or CIDR range`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return list;
}

/** True when connecting to `address` is refused (and not allowed by `allow`). */
export function isRefusedAddress(address: string, allow: BlockList): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (allow.check(address, type)) return false;
  const v4 = family === 6 ? embeddedV4(address) : undefined;
  if (v4 !== undefined)
    return allow.check(v4, 'ipv4') ? false : REFUSED.check(v4, 'ipv4') || v4 === '0.0.0.0';
  return REFUSED.check(address, type);
}

export class RefusedAddressError extends Error {
  readonly code = 'HERALD_REFUSED_ADDRESS';
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, an address deliveries may not reach`);
  }
}

function guardedLookup(allow: BlockList): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(
      hostname,
      Object.assign({}, options, { all: true as const }),
      (err, addresses: LookupAddress[]) => {
        if (err) return callback(err, '', 0);
        // Every address must pass: otherwise a name with one public and one private address
        // would reach the private one whenever the connection picks it.
        const bad = addresses.find((a) => isRefusedAddress(a.address, allow));
        if (bad) return callback(new RefusedAddressError(hostname, bad.address), '', 0);
        if (options.all)
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        const first = addresses[0];
        if (!first) return callback(new Error(`${hostname} has no address`), '', 0);
        callback(null, first.address, first.family);
      },
    );
  };
}

export interface GuardedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** At most the first 64 KiB of the body. */
  readonly body: string;
  /** The URL that answered (after redirects). */
  readonly url: string;
}

export interface GuardedPost {
  readonly headers: OutgoingHttpHeaders;
  readonly body: string | Buffer;
  readonly allow: BlockList;
  readonly timeoutMs: number;
  /** Redirects followed, each checked again (the same body is posted again). */
  readonly maxRedirects?: number;
}

const BODY_CAP = 64 * 1024;

function once(url: URL, p: GuardedPost): Promise<GuardedResponse> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new Error(`${url.protocol} URLs are not posted to`));
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // An address literal needs no lookup, so the lookup's check would never run for it.
  if (isIP(host) !== 0 && isRefusedAddress(host, p.allow)) {
    return Promise.reject(new RefusedAddressError(host, host));
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: Object.assign({}, p.headers, { 'content-length': Buffer.byteLength(p.body) }),
        lookup: guardedLookup(p.allow),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < BODY_CAP) chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).subarray(0, BODY_CAP).toString('utf8'),
            url: url.href,
          }),
        );
        res.on('error', reject);
      },
    );
    // A whole-exchange deadline, not only an idle one: a receiver that drips its answer must
    // not hold the job past its lease (another node would then send it again).
    const deadline = setTimeout(
      () => req.destroy(new Error(`no answer within ${p.timeoutMs} ms`)),
      p.timeoutMs,
    );
    req.on('close', () => clearTimeout(deadline));
    req.on('error', reject);
    req.end(p.body);
  });
}

/** POSTs `body` to `url`, refusing internal addresses on the first hop and on every redirect. */
export async function guardedPost(url: string, p: GuardedPost): Promise<GuardedResponse> {
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await once(target, p);
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || !location) return res;
    if (hop >= (p.maxRedirects ?? 3)) {
      throw new Error(`more than ${p.maxRedirects ?? 3} redirects`);
    }
    target = new URL(location, target);
  }
}
