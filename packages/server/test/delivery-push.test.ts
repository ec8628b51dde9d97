import { importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { call, jobsOf, notify } from './delivery-helpers.js';
import { browserKeys, decrypt, startPushService, type PushService } from './push-service.js';

/**
 * Web Push against a push service started by the test (push-service.ts): it receives the real
 * encrypted request, the test checks the VAPID JWT and decrypts the payload with the
 * subscription's keys.
 */

describe('web push', () => {
  let t: TestServer;
  let push: PushService;
  let base: string;
  let received: PushService['received'];

  beforeAll(async () => {
    push = await startPushService();
    ({ base, received } = push);
    t = await startServer({
      deliveryAllowedAddresses: ['127.0.0.1'],
      deliveryPollIntervalMs: 50,
      vapidSubject: 'mailto:ops@herald.test',
    });
  });
  afterAll(async () => {
    await t.close();
    await push.close();
  });

  const subscribe = async (user: string, path: string, keys = browserKeys()) => {
    const r = await call(t, 'POST', '/push/subscriptions', await t.token(user), {
      endpoint: `${base}${path}`,
      expirationTime: null,
      keys: {
        p256dh: keys.ecdh.getPublicKey().toString('base64url'),
        auth: keys.auth.toString('base64url'),
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return { id: r.body.id as string, keys };
  };

  it("sends an encrypted, VAPID-signed push that the subscription's keys decrypt", async () => {
    const { keys } = await subscribe('pia', '/push/pia-1');
    const id = await notify(t, 'pia', {
      title: 'Build green',
      message: 'main #7',
      priority: 'high',
      url: 'https://ci.example.com/7',
    });
    await waitFor(() => received.some((r) => r.path === '/push/pia-1'), 10_000, 'the push');
    const req = received.find((r) => r.path === '/push/pia-1')!;
    expect(req.headers['content-encoding']).toBe('aes128gcm');
    expect(req.headers['ttl']).toBe('86400');
    expect(req.headers['urgency']).toBe('high');
    const payload = JSON.parse(decrypt(req.body, keys));
    expect(payload).toMatchObject({
      id,
      title: 'Build green',
      body: 'main #7',
      url: 'https://ci.example.com/7',
      priority: 'high',
    });

    // VAPID (RFC 8292): "vapid t=<JWT>, k=<public key>", the key the server publishes.
    const m = /^vapid t=([^,]+), k=(.+)$/.exec(req.headers['authorization'] ?? '');
    expect(m).not.toBeNull();
    const published = await call(t, 'GET', '/push/vapid-public-key', 'key');
    expect(m![2]).toBe(published.body.publicKey);
    const point = Buffer.from(m![2]!, 'base64url');
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    };
    const { payload: claims } = await jwtVerify(m![1]!, await importJWK(jwk, 'ES256'));
    expect(claims.aud).toBe(base);
    expect(claims.sub).toBe('mailto:ops@herald.test');
    await waitFor(async () => (await jobsOf(t, id))[0]?.state === 'sent', 5000, 'job sent');
  });

  it('keeps the VAPID keys across restarts (stored in the database)', async () => {
    const before = (await call(t, 'GET', '/push/vapid-public-key', 'key')).body.publicKey;
    const again = await startServer({ dataDir: t.dataDir }, { keepData: true });
    try {
      expect((await call(again, 'GET', '/push/vapid-public-key', 'key')).body.publicKey).toBe(
        before,
      );
    } finally {
      await again.close();
    }
  });

  it('removes a subscription the push service answers 410 for; the job fails with the reason', async () => {
    const gone = await subscribe('gus', '/gone/gus-1');
    const kept = await subscribe('gus', '/push/gus-2');
    const id = await notify(t, 'gus', { title: 'Two devices' });
    await waitFor(
      async () => (await jobsOf(t, id)).every((j) => j.state !== 'pending'),
      10_000,
      'jobs done',
    );
    const jobs = await jobsOf(t, id);
    expect(jobs.find((j) => j.target === gone.id)).toMatchObject({
      state: 'failed',
      lastError: 'push service answered 410: subscription removed',
    });
    expect(jobs.find((j) => j.target === kept.id)).toMatchObject({ state: 'sent' });
    const list = await call(t, 'GET', '/push/subscriptions', await t.token('gus'));
    expect(list.body.subscriptions.map((s: { id: string }) => s.id)).toEqual([kept.id]);
  });

  it('validates subscriptions, lists them per user, deletes by endpoint or id', async () => {
    const token = await t.token('sam');
    const bad = await call(t, 'POST', '/push/subscriptions', token, {
      endpoint: `${base}/x`,
      keys: { p256dh: 'short', auth: 'x' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('HERALD_ERR_PUSH_SUBSCRIPTION_INVALID');
    const plain = browserKeys();
    const http = await call(t, 'POST', '/push/subscriptions', token, {
      endpoint: 'http://push.example.com/x',
      keys: {
        p256dh: plain.ecdh.getPublicKey().toString('base64url'),
        auth: plain.auth.toString('base64url'),
      },
    });
    expect(http.body.error.code).toBe('HERALD_ERR_PUSH_SUBSCRIPTION_INVALID');
    const a = await subscribe('sam', '/push/sam-1');
    const b = await subscribe('sam', '/push/sam-2');
    expect(
      (await call(t, 'GET', '/push/subscriptions', await t.token('other'))).body.subscriptions,
    ).toEqual([]);
    expect(
      (
        await call(t, 'DELETE', '/push/subscriptions', await t.token('other'), {
          endpoint: `${base}/push/sam-1`,
        })
      ).status,
    ).toBe(404);
    expect(
      (await call(t, 'DELETE', '/push/subscriptions', token, { endpoint: `${base}/push/sam-1` }))
        .status,
    ).toBe(204);
    expect((await call(t, 'DELETE', `/push/subscriptions/${b.id}`, token)).status).toBe(204);
    const gone = await call(t, 'DELETE', `/push/subscriptions/${a.id}`, token);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('HERALD_ERR_PUSH_SUBSCRIPTION_NOT_FOUND');
  });
});
