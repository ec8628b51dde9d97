import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  API_KEY,
  horizontalOverflow,
  overflowingElements,
  keptNotifications,
  startWebHarness,
  unnamedControls,
  type WebHarness,
} from './harness.js';

/** Sends like a backend would (curl): POST /notify/{user} with the API key. */
async function notify(h: WebHarness, user: string, body: Record<string, unknown>) {
  const res = await fetch(`${h.url}/notify/${user}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { ids: string[] }).ids[0]!;
}

/** The console line of a request the browser could not send while it was offline. */
const OFFLINE_FETCH_ERROR =
  /^console: Failed to load resource: net::ERR_(INTERNET_DISCONNECTED|FAILED)$/;

describe('the inbox, the shell and settings in Chromium', () => {
  let h: WebHarness;
  beforeAll(async () => {
    h = await startWebHarness();
  });
  afterEach(() => h.endTest());

  /**
   * Drops the console lines of requests the browser could not send while offline, logged
   * between `from` and `to`: the expected ones. Anything else, or any line after, still fails.
   */
  function dropOfflineErrors(from: number, to: number): void {
    for (let i = to - 1; i >= from; i--) {
      if (OFFLINE_FETCH_ERROR.test(h.errors[i]!)) h.errors.splice(i, 1);
    }
  }

  /** The page does not scroll sideways; the message names what sticks out. */
  async function expectNoSidewaysScroll(page: Page, where: string): Promise<void> {
    const overflow = await horizontalOverflow(page);
    const culprits = overflow > 0 ? await overflowingElements(page) : [];
    expect(overflow, `${where}: ${culprits.join(', ')}`).toBeLessThanOrEqual(0);
  }

  afterAll(async () => {
    await h.close();
  });

  it('shows a notification sent by a backend as a toast and in the list, live', async () => {
    const page = await h.signIn('alice');
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    await expect.poll(() => page.getByTestId('inbox-empty').count()).toBe(1);
    await notify(h, 'alice', { title: 'Build finished', message: 'main is green', category: 'ci' });
    await page.getByTestId('toast').filter({ hasText: 'Build finished' }).waitFor();
    await page.getByTestId('notification').filter({ hasText: 'Build finished' }).waitFor();
    await expect
      .poll(() => page.getByRole('link', { name: '1 unread notifications' }).count())
      .toBe(1);
    // The token is in sessionStorage only: not in the URL, not in localStorage.
    expect(page.url()).not.toContain('token');
    // An alert in the inbox (it has a severity) can be acknowledged from the list.
    await notify(h, 'alice', { title: 'Disk almost full', message: '91%', severity: 'high' });
    await page.getByRole('button', { name: 'Acknowledge “Disk almost full”' }).click();
    await page.getByTestId('notification').getByText('high, acked by alice').waitFor();
    const stored = await page.evaluate(() => ({
      local: JSON.stringify(localStorage),
      session: sessionStorage.getItem('herald.session') ?? '',
    }));
    expect(stored.session).toContain('"token":"ey');
    expect(stored.local).not.toContain('ey');
  });

  it('marks read in one tab and the other tab follows', async () => {
    const context = await h.context();
    const a = await h.signIn('bob', { context });
    const b = await h.signIn('bob', { context });
    await notify(h, 'bob', { title: 'Deploy done', message: 'v1.2 is live' });
    for (const p of [a, b])
      await p.getByTestId('notification').filter({ hasText: 'Deploy done' }).waitFor();
    await a.getByRole('button', { name: 'Mark “Deploy done” read' }).click();
    // The unread tab of the other tab empties, and its bell goes to 0.
    await b.getByTestId('inbox-empty').waitFor();
    await expect.poll(() => b.getByTestId('unread-bell').getAttribute('data-count')).toBe('0');
    await b.getByRole('tab', { name: 'Read', exact: true }).click();
    await b.getByTestId('notification').filter({ hasText: 'Deploy done' }).waitFor();
    // Keyboard: arrow keys move between tabs.
    await b.getByRole('tab', { name: 'Read', exact: true }).press('ArrowRight');
    await expect
      .poll(() => b.getByRole('tab', { name: 'All' }).getAttribute('aria-selected'))
      .toBe('true');
  });

  it('keeps two users in two tabs of one browser apart', async () => {
    const context = await h.context();
    const a = await h.signIn('hal', { context });
    const b = await h.signIn('ida', { context });
    for (const p of [a, b]) {
      await p.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    }
    await notify(h, 'hal', { title: 'For hal', message: 'x' });
    await notify(h, 'ida', { title: 'For ida', message: 'y' });
    await a.getByTestId('toast').filter({ hasText: 'For hal' }).waitFor();
    await b.getByTestId('toast').filter({ hasText: 'For ida' }).waitFor();
    expect(await a.getByTestId('notification').allTextContents()).toEqual([
      expect.stringContaining('For hal'),
    ]);
    expect(await b.getByTestId('notification').allTextContents()).toEqual([
      expect.stringContaining('For ida'),
    ]);
  });

  it('filters by category, priority and search; bulk-archives; pages with load more', async () => {
    for (let i = 0; i < 23; i++) {
      await notify(h, 'carol', {
        title: `Invoice ${i}`,
        message: 'due soon',
        category: i % 2 === 0 ? 'billing' : 'social',
        priority: i === 4 ? 'high' : 'normal',
      });
    }
    const page = await h.signIn('carol');
    const rows = page.getByTestId('notification');
    await expect.poll(() => rows.count()).toBe(20);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => rows.count()).toBe(23);

    await page.getByLabel('Category').selectOption('billing');
    await expect.poll(() => rows.count()).toBe(12);
    await page.getByLabel('Priority').selectOption('high');
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByLabel('Priority').selectOption('');
    await page.getByLabel('Search').fill('Invoice 1');
    // "Invoice 1", "Invoice 10" … "Invoice 18" of the billing ones: 1? no: 10, 12, 14, 16, 18.
    await expect.poll(() => rows.count()).toBe(5);
    await page.getByLabel('Search').fill('');
    await page.getByLabel('Category').selectOption('');
    await expect.poll(() => rows.count()).toBe(20);

    await page.getByRole('checkbox', { name: 'Select “Invoice 22”' }).check();
    await page.getByRole('checkbox', { name: 'Select “Invoice 21”' }).check();
    await page.getByRole('button', { name: 'Archive selected' }).click();
    await expect.poll(() => rows.filter({ hasText: /Invoice 2[12]/ }).count()).toBe(0);
    await page.getByRole('tab', { name: 'Archived' }).click();
    await expect.poll(() => rows.count()).toBe(2);

    await page.getByRole('tab', { name: 'Unread' }).click();
    await page.getByRole('button', { name: 'Mark all read' }).click();
    await page.getByTestId('inbox-empty').waitFor();
    await expect.poll(() => page.getByTestId('unread-bell').getAttribute('data-count')).toBe('0');
  });

  it('saves preferences per category and mounts the delivery settings', async () => {
    const page = await h.signIn('dave', { path: '/app/settings' });
    await page.getByRole('checkbox', { name: 'Show social notifications live' }).uncheck();
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const token = await h.server.token('dave');
    const prefs: any = await (
      await fetch(`${h.url}/notifications/preferences`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json();
    expect(prefs.mutedCategories).toEqual(['social']);
    await page.getByRole('heading', { name: 'Push on this device' }).waitFor();
    // A muted category is stored but no toast pops up; another category does.
    await notify(h, 'dave', { title: 'Muted like', message: 'x', category: 'social' });
    await notify(h, 'dave', { title: 'Loud bill', message: 'y', category: 'billing' });
    await page.getByTestId('toast').filter({ hasText: 'Loud bill' }).waitFor();
    expect(await page.getByTestId('toast').filter({ hasText: 'Muted like' }).count()).toBe(0);
  });

  it('shows job progress in one toast', async () => {
    const page = await h.signIn('erin');
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    const publish = (type: string, data: unknown) =>
      fetch(`${h.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY },
        body: JSON.stringify({ channel: 'user:erin', type, data }),
      });
    await publish('job.queued', { jobId: 'conv-1', title: 'Converting report.pdf' });
    const toast = page.getByTestId('toast').filter({ hasText: 'Converting report.pdf' });
    await toast.waitFor();
    await publish('job.progress', {
      jobId: 'conv-1',
      title: 'Converting report.pdf',
      progress: 60,
    });
    await expect
      .poll(() => toast.getByRole('progressbar').getAttribute('aria-valuenow'))
      .toBe('60');
    expect(await page.getByTestId('toast').count()).toBe(1);
  });

  it('signs out, asks for desktop permission only on a click, and names every control', async () => {
    const page = await h.signIn('frank');
    const asked = await page.evaluate(() => Notification.permission);
    expect(asked).toBe('default'); // nothing asked on load
    expect(await unnamedControls(page)).toEqual([]);
    await page.goto(`${h.url}/app/settings`);
    await page.getByRole('heading', { name: 'Inbox preferences' }).waitFor();
    expect(await unnamedControls(page)).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User id').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('herald.session'))).toBeNull();
  });

  it('fits a 375 px phone screen without sideways scrolling, and 320 px offline', async () => {
    const context = await h.context({ width: 375, height: 740 });
    const page = await h.signIn('gina', { context });
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    await notify(h, 'gina', {
      title: 'A rather long title that should wrap on a phone screen',
      message: 'x'.repeat(200),
    });
    await page.getByTestId('notification').first().waitFor();
    // Through the nav (it scrolls in one row on a phone), as a phone user would.
    for (const [link, heading] of [
      ['Inbox', 'Inbox'],
      ['Event browser', 'Event browser'],
      ['Votes', 'Live vote'],
      ['Chat', 'Chat'],
      ['AI answer', 'AI answer'],
      ['Settings', 'Settings'],
    ] as const) {
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: link })
        .click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await expectNoSidewaysScroll(page, link);
    }
    // While the stream is down the header's status carries the reason code: still no
    // sideways scrolling, on the narrowest phones (320 px) too.
    const offlineFrom = h.errors.length;
    await context.setOffline(true);
    await page.locator('[data-testid=connection-status] .status-reason').waitFor();
    await expectNoSidewaysScroll(page, 'Settings, offline');
    await page.setViewportSize({ width: 320, height: 740 });
    await expectNoSidewaysScroll(page, 'Settings, offline, 320 px');
    await context.setOffline(false);
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    dropOfflineErrors(offlineFrom, h.errors.length);
  });

  it('shows the kept notifications read-only offline, the live list again online', async () => {
    const page = await h.signIn('otto');
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    // The worker controls the page before anything arrives, so it keeps what the list shows.
    await page.waitForFunction('navigator.serviceWorker.controller !== null');
    await notify(h, 'otto', { title: 'First kept', message: 'one' });
    await notify(h, 'otto', { title: 'Second kept', message: 'two' });
    for (const title of ['First kept', 'Second kept'])
      await page.getByTestId('notification').filter({ hasText: title }).waitFor();
    const keptTitles = async () => (await keptNotifications(page)).map((n) => n.title).sort();
    await expect.poll(keptTitles).toEqual(['First kept', 'Second kept']);

    const offlineFrom = h.errors.length;
    await page.context().setOffline(true);
    const banner = page.getByRole('status').filter({ hasText: 'You are offline' });
    await expect
      .poll(() => banner.textContent())
      .toBe('You are offline — showing the last 2 notifications kept on this device.');
    const rows = page.getByTestId('notification');
    await expect.poll(() => rows.allTextContents()).toHaveLength(2);
    expect(await page.getByRole('button', { name: 'Mark “First kept” read' }).isDisabled()).toBe(
      true,
    );
    expect(await page.getByRole('button', { name: 'Archive “Second kept”' }).isDisabled()).toBe(
      true,
    );
    expect(await page.getByRole('button', { name: 'Mark all read' }).isDisabled()).toBe(true);
    await notify(h, 'otto', { title: 'Sent while offline', message: 'three' });

    await page.context().setOffline(false);
    await banner.waitFor({ state: 'detached' });
    await rows.filter({ hasText: 'Sent while offline' }).waitFor();
    // Offline, the stream and the list could not reach Herald: the browser logs each such
    // request (ERR_INTERNET_DISCONNECTED, or ERR_FAILED for one the service worker answered
    // with a network error). Those lines, logged from going offline until the list is live
    // again, are the expected ones; anything else, or any line after, fails the test.
    dropOfflineErrors(offlineFrom, h.errors.length);
    expect(await page.getByRole('button', { name: 'Mark “First kept” read' }).isEnabled()).toBe(
      true,
    );

    // Signing out forgets the kept copy: the next user of this browser never sees it.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User id').waitFor();
    await expect.poll(keptTitles).toEqual([]);
  });
});
