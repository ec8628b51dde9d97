import webpush from 'web-push';
import type { BlockList } from 'node:net';
import type { EmailNotification } from './email.js';
import { guardedPost } from './guarded-http.js';
import type { PushSubscription } from './delivery-store.js';
import { httpOutcome, type SendOutcome } from './outcome.js';

/**
 * Web Push (RFC 8030) with payload encryption (RFC 8291, aes128gcm) and VAPID (RFC 8292),
 * by the `web-push` library. The library only builds the request: Herald sends it itself
 * through the guarded client, because the endpoint comes from the browser (any URL a user
 * posts) and must pass the same address checks as a webhook.
 */

export interface VapidKeys {
  readonly publicKey: string;
  readonly privateKey: string;
}

export function generateVapidKeys(): VapidKeys {
  return webpush.generateVAPIDKeys();
}

/** What a push carries: the email's content, its time as ISO text for the service worker. */
export interface PushPayload extends Omit<EmailNotification, 'createdAt'> {
  readonly createdAt: string;
}

const URGENCY: Record<string, 'very-low' | 'low' | 'normal' | 'high'> = {
  low: 'low',
  normal: 'normal',
  high: 'high',
  critical: 'high',
};

/** Push services accept about 4 KB of payload; the body is cut well before that. */
const MAX_BODY = 1000;

export class WebPushSender {
  constructor(
    private readonly vapid: VapidKeys & { readonly subject: string },
    private readonly allow: BlockList,
    private readonly timeoutMs: number,
  ) {}

  get publicKey(): string {
    return this.vapid.publicKey;
  }

  async send(sub: PushSubscription, payload: PushPayload): Promise<SendOutcome> {
    const body =
      payload.body.length > MAX_BODY ? `${payload.body.slice(0, MAX_BODY - 1)}…` : payload.body;
    const details = webpush.generateRequestDetails(
      { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } },
      JSON.stringify(Object.assign({}, payload, { body })),
      {
        vapidDetails: this.vapid,
        TTL: 24 * 3600,
        urgency: URGENCY[payload.priority] ?? 'normal',
        contentEncoding: 'aes128gcm',
        // One notification per id on the device: a retry replaces, never adds.
        topic: payload.id.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32),
      },
    );
    const res = await guardedPost(details.endpoint, {
      headers: details.headers,
      body: details.body,
      allow: this.allow,
      timeoutMs: this.timeoutMs,
      maxRedirects: 0,
    });
    // RFC 8030 §7.3: 404 and 410 mean the subscription is gone for good.
    if (res.status === 404 || res.status === 410) {
      return { kind: 'gone', reason: `push service answered ${res.status}: subscription removed` };
    }
    return httpOutcome(res.status, 'push service');
  }
}
