import { createDecipheriv, createECDH, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/**
 * A push service of the test's own (the real ones cannot be reached from here) and the
 * browser's half of a subscription: it receives Herald's real encrypted request, and
 * `decrypt` opens the payload with the subscription's private key and auth secret (RFC
 * 8291), as a browser's push service and user agent together would. A `/gone/` endpoint
 * answers 410.
 */

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** A browser's side of a subscription: its P-256 key pair and auth secret. */
export function browserKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { ecdh, auth: randomBytes(16) };
}
export type BrowserKeys = ReturnType<typeof browserKeys>;

/** The `keys` of `PushSubscription.toJSON()` for these keys. */
export const subscriptionKeys = (keys: BrowserKeys) => ({
  p256dh: keys.ecdh.getPublicKey().toString('base64url'),
  auth: keys.auth.toString('base64url'),
});

/** RFC 8291 §3.4 and RFC 8188: decrypts an aes128gcm body (one record) for the browser. */
export function decrypt(body: Buffer, keys: BrowserKeys): string {
  const salt = body.subarray(0, 16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const uaPublic = keys.ecdh.getPublicKey();
  const shared = keys.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([
    Buffer.from('WebPush: info\0'),
    uaPublic,
    asPublic,
    Buffer.from([1]),
  ]);
  const ikm = hmac(hmac(keys.auth, shared), keyInfo);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([
    d.update(ciphertext.subarray(0, ciphertext.length - 16)),
    d.final(),
  ]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  // The last record's delimiter is 2 (RFC 8188 §2).
  if (padded[end] !== 2) throw new Error(`bad record delimiter ${padded[end]}`);
  return padded.subarray(0, end).toString('utf8');
}

export interface PushRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface PushService {
  /** `http://127.0.0.1:<port>`: endpoints are `${base}/any/path`. */
  readonly base: string;
  readonly received: PushRequest[];
  close(): Promise<void>;
}

/** Starts the push service on an ephemeral port of 127.0.0.1. */
export async function startPushService(): Promise<PushService> {
  const received: PushRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(req.url?.startsWith('/gone/') ? 410 : 201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
