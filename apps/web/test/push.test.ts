import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  browserKeys,
  decrypt,
  startPushService,
  subscriptionKeys,
  type PushService,
} from '../../../packages/server/test/push-service.js';
import { keptNotifications, startWebHarness, waitFor, type WebHarness } from './harness.js';

/**
 * The service worker (public/sw.js) in real Chromium against a real Herald.
 *
 * Chromium's PushManager subscribes at its vendor's push service, which cannot be reached
 * from here (and no browser lets a page choose another). So the test plays the push service
 * and the browser's key holder (push-service.ts): it subscribes with its own P-256 keys at a
 * local endpoint, Herald sends the real encrypted, VAPID-signed request there, the test
 * decrypts it with the subscription's keys, and hands the plaintext to the worker's push
 * handler through the DevTools protocol (`ServiceWorker.deliverPushMessage`), which is what
 * Chromium itself does with a message from its push service. Everything after that is real:
 * the worker's handler, showNotification, IndexedDB, the page's reads.
 */

/** Browser-side code runs as text: this package type-checks without the DOM library. */
const inPage = <T>(page: Page, body: string): Promise<T> =>
  page.evaluate<T>(`(async () => { ${body} })()`);

describe('service worker and web push', () => {
  let h: WebHarness;
  let push: PushService;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let registrationId = '';

  beforeAll(async () => {
    push = await startPushService();
    h = await startWebHarness({
      deliveryAllowedAddresses: ['127.0.0.1'],
      deliveryPollIntervalMs: 50,
      vapidSubject: 'mailto:ops@herald.test',
    });
    context = await h.context();
    await context.grantPermissions(['notifications'], { origin: h.url });
    page = await h.page(context);
    cdp = await context.newCDPSession(page);
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
      for (const r of e.registrations) {
        if (r.scopeURL === `${h.url}/` && !r.isDeleted) registrationId = r.registrationId;
      }
    });
    await cdp.send('ServiceWorker.enable');
  });
  afterEach(() => h.expectNoConsoleErrors());
  afterAll(async () => {
    await h?.close();
    await push?.close();
  });

  it('registers the worker on page load; it takes control of the app', async () => {
    await page.goto(`${h.url}/app/admin`);
    const scope = await inPage<string>(page, 'return (await navigator.serviceWorker.ready).scope;');
    expect(scope).toBe(`${h.url}/`);
    await waitFor(() => registrationId !== '', 10_000, 'the registration id');
    await page.reload();
    expect(await inPage<boolean>(page, 'return navigator.serviceWorker.controller !== null;')).toBe(
      true,
    );
  });

  /** Chromium logs (a little later) that incognito profiles have no Push API: expected here. */
  const dropIncognitoNotice = async () => {
    const notice = () => h.errors.findIndex((e) => e.includes('does not support the Push API'));
    await waitFor(() => notice() >= 0, 10_000, 'the incognito notice');
    h.errors.splice(notice(), 1);
  };

  /** Subscribes `user` at the local push service with keys the test holds. */
  const subscribe = async (user: string) => {
    const keys = browserKeys();
    const endpoint = `${push.base}/push/${user}`;
    const r = await fetch(`${h.url}/push/subscriptions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await h.server.token(user)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ endpoint, expirationTime: null, keys: subscriptionKeys(keys) }),
    });
    expect(r.status).toBe(201);
    return { keys, path: `/push/${user}` };
  };

  /** Waits for Herald's push request to `path`, decrypts it, and hands it to the worker. */
  const relay = async (sub: { keys: ReturnType<typeof browserKeys>; path: string }, nth = 1) => {
    await waitFor(
      () => push.received.filter((r) => r.path === sub.path).length >= nth,
      15_000,
      'the push request',
    );
    const req = push.received.filter((r) => r.path === sub.path)[nth - 1]!;
    expect(req.headers['content-encoding']).toBe('aes128gcm');
    const plaintext = decrypt(req.body, sub.keys);
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: h.url,
      registrationId,
      data: plaintext,
    });
    return JSON.parse(plaintext) as { id: string; title: string };
  };

  const shown = (p: Page) =>
    inPage<{ title: string; body: string; tag: string }[]>(
      p,
      `const reg = await navigator.serviceWorker.ready;
       return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag }));`,
    );

  it('shows a push as a system notification when no tab of the app is open', async () => {
    const sub = await subscribe('pia');
    // No tab of the app: the page is elsewhere (the worker keeps running for the push).
    await page.goto('about:blank');
    const r = await h.server.post('/notify/pia', {
      title: 'Build green',
      message: 'main #7',
      category: 'ci',
      priority: 'high',
    });
    expect(r.status).toBe(202);
    const payload = await relay(sub);
    expect(payload).toMatchObject({ id: r.body.ids[0], title: 'Build green' });

    await page.goto(`${h.url}/app/admin`);
    await expect
      .poll(() => shown(page), { timeout: 10_000 })
      .toContainEqual({
        title: 'Build green',
        body: 'main #7',
        tag: payload.id,
      });
    // The worker kept it for the offline inbox.
    const kept = await keptNotifications<{ id: string; title: string; category: string }>(page);
    expect(kept).toContainEqual(
      expect.objectContaining({ id: payload.id, title: 'Build green', category: 'ci' }),
    );
    // The outbox shows the push job as sent.
    const jobs = (await (
      await fetch(`${h.url}/admin/delivery/jobs?notificationId=${payload.id}`, {
        headers: { 'x-herald-key': h.server.config.apiKeys[0]! },
      })
    ).json()) as { jobs: { channel: string; state: string }[] };
    expect(jobs.jobs).toEqual([expect.objectContaining({ channel: 'push', state: 'sent' })]);
  });

  it('hands a push to the tab in front instead of showing a notification', async () => {
    const sub = await subscribe('raj');
    await page.goto(`${h.url}/app/admin`);
    await page.bringToFront();
    await inPage(
      page,
      `window.heraldPushes = [];
       navigator.serviceWorker.addEventListener('message', (e) => window.heraldPushes.push(e.data));
       return document.hasFocus();`,
    );
    const r = await h.server.post('/notify/raj', { title: 'In front', message: 'no popup' });
    expect(r.status).toBe(202);
    const payload = await relay(sub);
    await expect
      .poll(() =>
        inPage<{ type: string; notification: { id: string } }[]>(
          page,
          'return window.heraldPushes;',
        ),
      )
      .toEqual([
        {
          type: 'herald.push',
          notification: expect.objectContaining({ id: payload.id, title: 'In front' }),
        },
      ]);
    expect((await shown(page)).map((n) => n.title)).not.toContain('In front');
  });

  it('keeps the inbox lists the page loads, for offline use', async () => {
    await page.goto(`${h.url}/app/admin`);
    const token = await h.server.token('quin');
    await h.server.post('/notify/quin', { title: 'Kept for later', message: 'offline copy' });
    const listed = await inPage<number>(
      page,
      `const r = await fetch('/notifications', { headers: { authorization: 'Bearer ${token}' } });
       return (await r.json()).notifications.length;`,
    );
    expect(listed).toBe(1);
    await expect
      .poll(async () => (await keptNotifications(page)).map((n) => n.title))
      .toContain('Kept for later');
  });

  it('opens the app offline from its cached shell', async () => {
    await page.goto(`${h.url}/app/admin`);
    await page.getByRole('heading', { name: 'Herald admin' }).waitFor();
    await context.setOffline(true);
    try {
      await page.goto(`${h.url}/app/inbox`);
      await page.locator('#root > *').first().waitFor();
      expect(await page.title()).toBe('Herald');
    } finally {
      await context.setOffline(false);
    }
    // Offline, the admin sign-in could not reach Herald: nothing else may have failed.
    for (let i = h.errors.length - 1; i >= 0; i--) {
      if (h.errors[i]!.includes('ERR_INTERNET_DISCONNECTED')) h.errors.splice(i, 1);
    }
  });

  it("records that Chromium's own PushManager refuses here (why the test plays the push service)", async () => {
    const outcome = await inPage<string>(
      page,
      `const reg = await navigator.serviceWorker.ready;
       const { publicKey } = await (await fetch('/push/vapid-public-key')).json();
       try { await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: publicKey }); return 'subscribed'; }
       catch (e) { return e.name + ': ' + e.message; }`,
    );
    // Playwright's contexts are incognito profiles, where Chromium has no Push API; a
    // persistent profile would try its vendor's push service, unreachable from here.
    expect(outcome).toMatch(/^AbortError: Registration failed/);
    await dropIncognitoNotice();
  });

  it('saves delivery preferences and webhooks from the settings view', async () => {
    const user = await h.signIn('sol', { path: '/app/settings' });
    const ui = user.locator('.push-settings');
    await ui.getByRole('button', { name: 'Save delivery settings' }).waitFor();
    await ui.getByRole('checkbox', { name: 'Webhooks' }).uncheck();
    await ui.getByLabel('Email address').fill('sol@example.org');
    await ui.getByLabel('Category', { exact: true }).fill('billing');
    await ui.getByRole('button', { name: 'Add category' }).click();
    await ui.getByRole('checkbox', { name: 'push for billing' }).uncheck();
    await ui.getByLabel('Hold push and email during quiet hours').check();
    await ui.getByLabel('From', { exact: true }).fill('21:30');
    await ui.getByLabel('To', { exact: true }).fill('06:45');
    await ui.getByLabel('Still deliver at once').selectOption('high');
    await ui.getByLabel('Time zone').selectOption('Europe/Berlin');
    await ui.getByLabel('Email digest').selectOption('daily');
    await ui.getByRole('button', { name: 'Save delivery settings' }).click();
    await ui.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

    const token = await h.server.token('sol');
    const prefs = await (
      await fetch(`${h.url}/delivery/preferences`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json();
    expect(prefs).toMatchObject({
      timeZone: 'Europe/Berlin',
      email: 'sol@example.org',
      channels: { push: true, email: true, webhook: false },
      categories: { billing: { push: false } },
      quietHours: { start: '21:30', end: '06:45' },
      bypassPriority: 'high',
      digest: 'daily',
    });
    // A reload shows what was saved.
    await user.reload();
    await expect.poll(() => ui.getByLabel('Email digest').inputValue()).toBe('daily');
    expect(await ui.getByRole('checkbox', { name: 'push for billing' }).isChecked()).toBe(false);

    // Webhooks: the secret is shown once, the list has the URL, remove takes it away.
    await ui.getByLabel('URL', { exact: true }).fill('https://127.0.0.1:9/hook');
    await ui.getByRole('button', { name: 'Add webhook' }).click();
    const secret = (await ui.getByTestId('webhook-secret').textContent())!.trim();
    expect(secret.length).toBeGreaterThan(20);
    const listed = async () =>
      (
        (await (
          await fetch(`${h.url}/delivery/webhooks`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).json()) as { webhooks: { url: string }[] }
      ).webhooks.map((w) => w.url);
    expect(await listed()).toEqual(['https://127.0.0.1:9/hook']);
    await ui.getByRole('button', { name: 'Remove https://127.0.0.1:9/hook' }).click();
    await expect.poll(listed).toEqual([]);
    await ui.getByText('No webhooks.').waitFor();
  });

  it('tells the user when this browser cannot subscribe to push', async () => {
    const user = await h.signIn('tia', { path: '/app/settings' });
    await user.context().grantPermissions(['notifications'], { origin: h.url });
    const ui = user.locator('.push-settings');
    await ui.getByRole('button', { name: 'Enable push notifications' }).click();
    await expect
      .poll(() => ui.getByRole('alert').textContent())
      .toMatch(/refused|not available|private/i);
    expect(await ui.getByTestId('push-device-state').textContent()).toBe('Off');
    await dropIncognitoNotice();
  });

  it('fits the delivery settings on a phone (375 px)', async () => {
    const phone = await h.context({ width: 375, height: 740 });
    const user = await h.signIn('uma', { path: '/app/settings', context: phone });
    await user
      .locator('.push-settings')
      .getByRole('button', { name: 'Save delivery settings' })
      .waitFor();
    await user
      .locator('.push-settings')
      .getByLabel('Hold push and email during quiet hours')
      .check();
    expect(await user.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
      375,
    );
  });
});
