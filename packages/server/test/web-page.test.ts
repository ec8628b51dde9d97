import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCatalogue } from '../src/errors.js';
import { startServer, type TestServer } from './helpers.js';

/**
 * The demo page (apps/web) in a real Chromium against a real dev-mode server: connecting,
 * toasts, browser notifications, history, de-duplication, the send form and its errors.
 */

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

interface Recorded {
  title: string;
  body: string | undefined;
  tag: string | undefined;
}

/**
 * Runs in the page before its scripts: records every `new Notification(...)` (then lets the
 * real one run) and every change of the connection state. Plain JavaScript, since the test
 * project is type-checked without the DOM library.
 */
const INIT_SCRIPT = `(() => {
  const Original = window.Notification;
  window.__notifications = [];
  window.Notification = class extends Original {
    constructor(title, options) {
      window.__notifications.push({ title, body: options?.body, tag: options?.tag });
      super(title, options);
    }
  };
  window.__states = [];
  document.addEventListener('DOMContentLoaded', () => {
    const node = document.querySelector('[data-testid="connection-state"]');
    new MutationObserver(() => window.__states.push(node.dataset.state)).observe(node, {
      attributes: true,
      attributeFilter: ['data-state'],
    });
  });
})();`;

describe('web page', () => {
  let t: TestServer;
  let browser: Browser;
  let page: Page;

  const toast = (text: string) => page.getByTestId('toast').filter({ hasText: text });
  const historyItems = (text: string) => page.getByTestId('history-item').filter({ hasText: text });
  const recorded = () => page.evaluate((): Recorded[] => (globalThis as any).__notifications);
  const waitForNotification = (title: string) =>
    page.waitForFunction(
      (t) => ((globalThis as any).__notifications as Recorded[]).some((n) => n.title === t),
      title,
    );
  const state = () => page.getByTestId('connection-state');

  async function notify(userId: string, body: Record<string, unknown>): Promise<void> {
    const res = await t.post(`/notify/${userId}`, body);
    expect(res.status).toBe(202);
  }

  beforeAll(async () => {
    t = await startServer({ dev: true, retryMs: 300 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const context = await browser.newContext();
    await context.grantPermissions(['notifications'], { origin: t.url });
    await context.addInitScript(INIT_SCRIPT);
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(t.url + '/');
    await page.getByTestId('connect').waitFor();
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('serves the page, disconnected, with browser notifications allowed', async () => {
    await expect(page.title()).resolves.toContain('Herald');
    await page.locator('[data-testid="connection-state"][data-state="disconnected"]').waitFor();
    await page.locator('[data-testid="permission-state"][data-permission="granted"]').waitFor();
    expect(await page.getByTestId('toasts').getAttribute('aria-live')).toBe('polite');
  });

  it('connects as a user and shows a notification as toast, history entry and browser notification', async () => {
    await page.getByTestId('user-id').fill('alice');
    await page.getByTestId('connect').click();
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    expect(await state().textContent()).toContain('Connected');

    await notify('alice', { title: 'Build finished', message: 'main is green', category: 'ci' });
    const shown = toast('Build finished');
    await shown.waitFor();
    expect(await shown.textContent()).toContain('main is green');
    await historyItems('Build finished').waitFor();
    expect(await historyItems('Build finished').textContent()).toContain('ci');

    await waitForNotification('Build finished');
    const sys = (await recorded()).find((n) => n.title === 'Build finished');
    expect(sys?.body).toBe('main is green');
    expect(sys?.tag).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sends from the page's own form to the same user", async () => {
    await page.getByTestId('target-user').check();
    await page.getByTestId('send-to').fill('alice');
    await page.getByTestId('send-title').fill('From the form');
    await page.getByTestId('send-message').fill('sent by the page itself');
    await page.getByTestId('send').click();

    const shown = toast('From the form');
    await shown.waitFor();
    expect(await shown.textContent()).toContain('sent by the page itself');
    await page.getByTestId('send-status').filter({ hasText: 'Sent' }).waitFor();
    await waitForNotification('From the form');
  });

  it('sends to several users and to everyone', async () => {
    await page.getByTestId('target-users').check();
    await page.getByTestId('send-to').fill('bob, alice');
    await page.getByTestId('send-title').fill('To a few');
    await page.getByTestId('send-message').fill('bob and alice');
    await page.getByTestId('send').click();
    await toast('To a few').waitFor();
    await page.getByTestId('send-status').filter({ hasText: 'Sent (2 notifications)' }).waitFor();

    await page.getByTestId('target-everyone').check();
    expect(await page.getByTestId('send-to').isHidden()).toBe(true);
    await page.getByTestId('send-title').fill('To everyone');
    await page.getByTestId('send-message').fill('on the broadcast channel');
    await page.getByTestId('send').click();
    await toast('To everyone').waitFor();
  });

  it('shows the server error message when a send is refused', async () => {
    await page.getByTestId('target-users').check();
    await page.getByTestId('send-to').fill('carol, not valid!');
    await page.getByTestId('send-title').fill('Never sent');
    await page.getByTestId('send-message').fill('bad recipient');
    await page.getByTestId('send').click();
    const err = page.locator('[data-testid="send-status"][data-kind="error"]');
    await err.waitFor();
    const text = await err.textContent();
    expect(text).toContain(errorCatalogue.HERALD_ERR_INVALID_CHANNEL.message);
    expect(text).toContain('not valid!'); // the detail
    await page.getByTestId('target-user').check();
  });

  it("does not show another user's notifications", async () => {
    await notify('bob', { title: 'Only for Bob', message: 'secret' });
    await notify('alice', { title: 'Marker one', message: 'after the one for bob' });
    await historyItems('Marker one').waitFor();
    expect(await historyItems('Only for Bob').count()).toBe(0);
    expect(await toast('Only for Bob').count()).toBe(0);
    expect((await recorded()).some((n) => n.title === 'Only for Bob')).toBe(false);
  });

  it('shows a notification id only once', async () => {
    const dup = {
      channel: 'user:alice',
      type: 'notification',
      data: { id: 'dup-0001', title: 'Exactly once', message: 'sent twice' },
    };
    expect((await t.post('/publish', dup)).status).toBe(202);
    expect((await t.post('/publish', dup)).status).toBe(202);
    await notify('alice', { title: 'Marker two', message: 'after the duplicates' });
    await historyItems('Marker two').waitFor();
    expect(await historyItems('Exactly once').count()).toBe(1);
    expect((await recorded()).filter((n) => n.title === 'Exactly once')).toHaveLength(1);
  });

  it('shows plain `message` events from /publish', async () => {
    const res = await t.post('/publish', { channel: 'broadcast', data: 'plain text hello' });
    expect(res.status).toBe(202);
    await toast('plain text hello').waitFor();
  });

  it('shows reconnecting when the server ends the stream, then resumes losslessly', async () => {
    const before = await page.evaluate((): number => (globalThis as any).__states.length);
    // What a draining node does on SIGTERM: `shutdown` event, then the stream ends.
    t.server.hub.closeAll(t.config.retryMs);
    await notify('alice', { title: 'During the restart', message: 'sent between the streams' });
    await page.waitForFunction(
      (from) => ((globalThis as any).__states as string[]).slice(from).includes('reconnecting'),
      before,
    );
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    await toast('During the restart').waitFor();
    expect(await historyItems('Build finished').count()).toBe(1);
  });

  it('keeps working with toasts when browser notifications are denied', async () => {
    const context = await browser.newContext(); // no grant: headless Chromium denies
    await context.addInitScript(INIT_SCRIPT);
    const other = await context.newPage();
    other.setDefaultTimeout(10_000);
    const errors: string[] = [];
    other.on('pageerror', (err) => errors.push(err.message));
    try {
      await other.goto(t.url + '/');
      await other.getByTestId('notify-permission').waitFor(); // offered while undecided
      await other.getByTestId('user-id').fill('dave');
      await other.getByTestId('connect').click(); // asks for permission
      await other.locator('[data-testid="permission-state"][data-permission="denied"]').waitFor();
      await other.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
      await notify('dave', { title: 'No permission', message: 'toast only' });
      await other.getByTestId('toast').filter({ hasText: 'No permission' }).waitFor();
      expect(await other.evaluate(() => (globalThis as any).__notifications.length)).toBe(0);
      expect(await other.getByTestId('notify-permission').isHidden()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('disconnects, and on reconnect gets what it missed without repeating the rest', async () => {
    await page.getByTestId('disconnect').click();
    await page.locator('[data-testid="connection-state"][data-state="disconnected"]').waitFor();
    expect(await state().textContent()).toContain('Disconnected');

    await notify('alice', { title: 'While away', message: 'missed while disconnected' });
    await page.getByTestId('connect').click();
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    await toast('While away').waitFor();
    await notify('alice', { title: 'Marker three', message: 'after the reconnect' });
    await historyItems('Marker three').waitFor();
    expect(await historyItems('Build finished').count()).toBe(1);
    expect(await historyItems('While away').count()).toBe(1);
  });
});
