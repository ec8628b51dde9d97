import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowList, guardedPost, isRefusedAddress } from '../src/delivery/guarded-http.js';
import { verifySignature } from '../src/delivery/webhook.js';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { call, jobsOf, notify } from './delivery-helpers.js';

/**
 * Webhooks to a receiver started by the test on 127.0.0.1, reachable only because the
 * operator allow-list names it; the SSRF defence refuses every internal address otherwise,
 * after DNS resolution and on every redirect.
 */
describe('webhooks', () => {
  let t: TestServer;
  let receiver: Server;
  let base: string;
  const got: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let failNext = 0;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        got.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/redirect-internal') {
          res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        } else if (req.url === '/redirect-ok') {
          res.writeHead(308, { location: '/hook' }).end();
        } else if (failNext > 0 && req.url === '/flaky') {
          failNext--;
          res.writeHead(503).end();
        } else {
          res.writeHead(204).end();
        }
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    t = await startServer({
      deliveryAllowedAddresses: ['127.0.0.1/32'],
      deliveryPollIntervalMs: 50,
      deliveryRetryBaseMs: 20,
    });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  const addHook = async (user: string, url: string) => {
    const r = await call(t, 'POST', '/delivery/webhooks', await t.token(user), { url });
    return r;
  };

  it('posts the notification signed with HMAC-SHA256 over timestamp and body', async () => {
    const r = await addHook('wes', `${base}/hook`);
    expect(r.status).toBe(201);
    expect(r.body.secret).toMatch(/^whsec_/);
    const id = await notify(t, 'wes', {
      title: 'Paid',
      message: 'Invoice 9',
      category: 'billing',
      data: { amount: 9 },
    });
    await waitFor(
      () => got.some((g) => g.path === '/hook' && g.body.includes(id)),
      10_000,
      'the webhook',
    );
    const req = got.find((g) => g.path === '/hook' && g.body.includes(id))!;
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['herald-webhook-id']).toBe(`webhook:${id}:${r.body.id}`);
    const sig = req.headers['herald-signature'] as string;
    expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const now = Math.floor(Date.now() / 1000);
    expect(verifySignature(r.body.secret, sig, req.body, now)).toBe(true);
    expect(verifySignature(r.body.secret, sig, req.body.replace('Paid', 'Paid!'), now)).toBe(false);
    expect(verifySignature('whsec_other', sig, req.body, now)).toBe(false);
    expect(verifySignature(r.body.secret, sig, req.body, now + 3600)).toBe(false); // replayed later
    expect(JSON.parse(req.body)).toMatchObject({
      type: 'notification',
      userId: 'wes',
      notification: {
        id,
        title: 'Paid',
        body: 'Invoice 9',
        category: 'billing',
        data: { amount: 9 },
      },
    });
    // The secret is shown once: the list never carries it.
    const list = await call(t, 'GET', '/delivery/webhooks', await t.token('wes'));
    expect(list.body.webhooks).toEqual([
      { id: r.body.id, url: `${base}/hook`, createdAt: expect.any(String) },
    ]);
  });

  it('retries 5xx answers through the outbox with backoff, then succeeds', async () => {
    failNext = 2;
    await addHook('fay', `${base}/flaky`);
    const id = await notify(t, 'fay', { title: 'Flaky' });
    await waitFor(
      async () => (await jobsOf(t, id))[0]?.state === 'sent',
      10_000,
      'sent after retries',
    );
    expect((await jobsOf(t, id))[0]).toMatchObject({ attempts: 3, state: 'sent', lastError: null });
  });

  it('follows a redirect only to an allowed address: a redirect to the metadata address fails the job', async () => {
    await addHook('rex', `${base}/redirect-internal`);
    await addHook('ron', `${base}/redirect-ok`);
    const bad = await notify(t, 'rex', { title: 'Redirected' });
    const ok = await notify(t, 'ron', { title: 'Redirected fine' });
    await waitFor(
      async () => (await jobsOf(t, bad))[0]?.state === 'failed',
      10_000,
      'refused redirect',
    );
    expect((await jobsOf(t, bad))[0].lastError).toContain('169.254.169.254');
    expect((await jobsOf(t, bad))[0].attempts).toBe(1); // never retried
    await waitFor(
      async () => (await jobsOf(t, ok))[0]?.state === 'sent',
      10_000,
      'allowed redirect',
    );
  });

  it('refuses webhook URLs that resolve to internal addresses when they are created', async () => {
    // 127.0.0.1 itself is allow-listed for this server's receiver; its neighbours are not.
    for (const url of [
      'http://127.0.0.2:9/x',
      'http://10.1.2.3/x',
      'http://169.254.169.254/latest',
      'http://[::1]/x',
      'http://[fd00:ec2::254]/x',
      'http://[::ffff:127.0.0.2]/x',
      'http://192.168.1.1/',
    ]) {
      const r = await addHook('eve', url);
      expect(r.status, url).toBe(400);
      expect(r.body.error.code, url).toBe('HERALD_ERR_WEBHOOK_URL_REFUSED');
    }
    expect((await addHook('eve', 'ftp://example.com/x')).body.error.code).toBe(
      'HERALD_ERR_BAD_REQUEST',
    );
    expect((await addHook('eve', 'http://user:pw@example.com/x')).body.error.code).toBe(
      'HERALD_ERR_BAD_REQUEST',
    );
  });

  it('checks every address a name resolves to, at connection time, with the allow-list as the only way in', async () => {
    const none = allowList([]);
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.5',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00:ec2::254',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1',
      '224.0.0.1',
    ]) {
      expect(isRefusedAddress(a, none), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111'])
      expect(isRefusedAddress(a, none), a).toBe(false);
    expect(isRefusedAddress('127.0.0.1', allowList(['127.0.0.0/8']))).toBe(false);
    // "localhost" resolves to loopback: refused by the lookup the connection itself uses.
    await expect(
      guardedPost(`${base.replace('127.0.0.1', 'localhost')}/hook`, {
        headers: {},
        body: '{}',
        allow: none,
        timeoutMs: 2000,
      }),
    ).rejects.toThrow(/an address deliveries may not reach/);
    const before = got.length;
    await expect(
      guardedPost(`${base}/hook`, { headers: {}, body: '{}', allow: none, timeoutMs: 2000 }),
    ).rejects.toThrow(/may not reach/);
    expect(got.length).toBe(before);
    const res = await guardedPost(`${base.replace('127.0.0.1', 'localhost')}/hook`, {
      headers: {},
      body: '{}',
      allow: allowList(['127.0.0.1', '::1']),
      timeoutMs: 2000,
    });
    expect(res.status).toBe(204);
  });

  it('deletes a webhook of its own user only', async () => {
    const r = await addHook('del', `${base}/hook`);
    expect(
      (await call(t, 'DELETE', `/delivery/webhooks/${r.body.id}`, await t.token('other'))).status,
    ).toBe(404);
    expect(
      (await call(t, 'DELETE', `/delivery/webhooks/${r.body.id}`, await t.token('del'))).status,
    ).toBe(204);
    const again = await call(t, 'DELETE', `/delivery/webhooks/${r.body.id}`, await t.token('del'));
    expect(again.body.error.code).toBe('HERALD_ERR_WEBHOOK_NOT_FOUND');
  });
});
