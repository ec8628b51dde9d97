import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { BlockList } from 'node:net';
import { guardedPost } from './guarded-http.js';
import { httpOutcome, type SendOutcome } from './outcome.js';

/**
 * Webhooks: a POST of the notification as JSON, signed like Stripe and Svix do so a receiver
 * can tell it came from Herald and is fresh:
 *
 *   Herald-Webhook-Id: <delivery id, the same on every retry: dedupe on it>
 *   Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * The receiver recomputes the HMAC over the raw body and compares in constant time, and
 * refuses a `t` older than a few minutes (replay). docs/delivery.md shows how.
 */

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

export function signature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** Checks a `Herald-Signature` header (what a receiver does; used by the tests and the docs). */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  const parts = new Map(
    header.split(',').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowSec - t) > toleranceSec) return false;
  const expected = Buffer.from(signature(secret, t, body), 'hex');
  const given = Buffer.from(v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class WebhookSender {
  constructor(
    private readonly allow: BlockList,
    private readonly timeoutMs: number,
  ) {}

  async send(
    url: string,
    secret: string,
    deliveryId: string,
    payload: unknown,
    now: number,
  ): Promise<SendOutcome> {
    const body = JSON.stringify(payload);
    const t = Math.floor(now / 1000);
    const res = await guardedPost(url, {
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Herald-Webhook/1',
        'herald-webhook-id': deliveryId,
        'herald-signature': `t=${t},v1=${signature(secret, t, body)}`,
      },
      body,
      allow: this.allow,
      timeoutMs: this.timeoutMs,
    });
    return httpOutcome(res.status, 'webhook receiver');
  }
}
