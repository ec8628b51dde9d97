// The admin dashboard's and the delivery settings' screenshots, for scripts/screenshot.mjs
// (which starts the server and Chromium and calls `adminScreenshots`). Kept apart so the
// user app's and the admin's views can change without touching each other's code.
//
// The server must be started with `adminServerArgs` (an API key the dashboard signs in with).

import { join } from 'node:path';

/** An API key for the screenshots' server only (never a real deployment's). */
export const ADMIN_SHOT_KEY = 'screenshot-admin-key-0123456789';

/** Extra `herald serve` flags the admin screenshots need. */
export const adminServerArgs = ['--api-keys', ADMIN_SHOT_KEY];

async function adminPost(url, path, body) {
  const r = await fetch(url + path, {
    method: path.startsWith('/templates/') ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json', 'x-herald-key': ADMIN_SHOT_KEY },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path} answered ${r.status}: ${await r.text()}`);
  return r.json();
}

/** Some traffic, keys and templates, so the views show something. */
async function seed(url) {
  await adminPost(url, '/templates/order-shipped', {
    title: 'Order {{order}} shipped',
    message: 'Hi {{name}}, your order is on its way.',
    category: 'orders',
    url: 'https://shop.example.com/orders/{{order}}',
  });
  await adminPost(url, '/templates/invoice-ready', {
    title: 'Invoice {{month}} is ready',
    message: 'Your invoice for {{month}} is ready to download.',
    category: 'billing',
    priority: 'high',
  });
  await adminPost(url, '/admin/keys', { name: 'billing-service', publish: ['user:*'] });
  await adminPost(url, '/admin/keys', { name: 'ops-dashboard', publish: [], admin: true });
  const categories = ['billing', 'orders', 'social'];
  for (let i = 0; i < 24; i++) {
    await adminPost(url, `/notify/user-${i % 6}`, {
      title: `Notification ${i + 1}`,
      message: 'Seeded for the screenshot',
      category: categories[i % 3],
    });
  }
}

/**
 * Signs in to /app/admin and saves each admin view (desktop, and the overview at phone
 * width), then the delivery settings of a signed-in user, into `outDir`.
 */
export async function adminScreenshots({ browser, url, outDir }) {
  await seed(url);
  const shots = [];
  for (const { width, height, views } of [
    {
      width: 1280,
      height: 860,
      views: ['Overview', 'Send', 'Delivery', 'API keys', 'Templates'],
    },
    { width: 375, height: 812, views: ['Overview'] },
  ]) {
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(url + '/app/admin');
    // A few live streams from this page, so the counters and charts are not all zero.
    await page.evaluate(async () => {
      for (const userId of ['alice', 'bob', 'carol', 'dave']) {
        const r = await fetch('/dev/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId }),
        });
        const { token } = await r.json();
        new EventSource(`/events?channels=user:${userId}&token=${token}`);
      }
    });
    await page.getByLabel('Admin API key').fill(ADMIN_SHOT_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const nav = page.getByRole('navigation', { name: 'Admin' });
    await nav.waitFor();
    for (const name of views) {
      await nav.getByRole('link', { name }).click();
      await page.getByRole('heading', { level: 2, name }).waitFor();
      if (name === 'Send') {
        await page.getByLabel('Template').selectOption('order-shipped');
        await page.getByLabel('User id').fill('alice');
        await page.getByLabel('order', { exact: true }).fill('1042');
        await page.getByLabel('name', { exact: true }).fill('Alice');
      }
      if (name === 'Templates') {
        await page
          .getByTestId('template-list')
          .getByRole('button', { name: /order-shipped/ })
          .click();
      }
      // Let the overview take a few samples for its charts.
      if (name === 'Overview') {
        for (let i = 0; i < 20; i++) {
          const to = ['alice', 'bob', 'carol', 'dave'][i % 4];
          await adminPost(url, `/notify/${to}`, {
            title: `Live ${i}`,
            message: 'm',
            category: 'social',
          });
          await page.waitForTimeout(300);
        }
      }
      const file = join(
        outDir,
        `admin-${name.toLowerCase().replace(/\s+/g, '-')}${width < 600 ? '-phone' : ''}.png`,
      );
      await page.screenshot({ path: file, fullPage: width < 600 });
      shots.push(file);
    }
    await context.close();
  }

  // The delivery settings, as the user app shows them in /app/settings.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(url + '/app/settings');
  await page.getByLabel('User id').fill('alice');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const settings = page.locator('.push-settings');
  await settings.getByRole('button', { name: 'Save delivery settings' }).waitFor();
  await settings.getByLabel('Hold push and email during quiet hours').check();
  await settings.getByLabel('Category', { exact: true }).fill('billing');
  await settings.getByRole('button', { name: 'Add category' }).click();
  const file = join(outDir, 'delivery-settings.png');
  // An element's picture is taken scrolled: the app's sticky header would cover its top.
  await page.addStyleTag({ content: 'header { position: static !important; }' });
  await page.locator('section', { has: settings }).screenshot({ path: file });
  shots.push(file);
  await context.close();
  return shots;
}
