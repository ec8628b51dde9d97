import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  connectedWith,
  harnessCounts,
  pageSuite,
  showWidget,
  twoInboxPages,
  unreadAgainFollows,
} from '../../client/test/page-suite.js';
import { waitFor } from '../../server/test/helpers.js';

/**
 * The composables in a real Chromium against a real Herald: a Vue test page (test/page,
 * bundled with esbuild, served by Herald itself) mounts widgets that use them, and the tests
 * publish over HTTP, click, and read the page. One browser and one server for the file.
 */

const here = dirname(fileURLToPath(import.meta.url));
const CHANNELS = ['room:a', 'room:b', 'keep'];

const suite = pageSuite(join(here, 'page/main.ts'), {
  define: {
    __VUE_OPTIONS_API__: 'false',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
  },
});
const { publish, notify } = suite;

/** A fresh page with the user's client started. */
async function openPage(user = 'alice'): Promise<{ page: Page; problems: string[] }> {
  const { page, problems } = await suite.open();
  const token = await suite.t.token(user, { channels: CHANNELS });
  await page.evaluate(([tok, ch]) => (globalThis as any).harness.start(tok, [ch]), [
    token,
    `user:${user}`,
  ] as const);
  return { page, problems };
}

const counts = harnessCounts;
const received = (page: Page) =>
  page.evaluate((): { channel: string[]; keeper: string[] } =>
    (globalThis as any).harness.received(),
  );
const show = showWidget;

describe('@herald/vue in Chromium', () => {
  it('useHerald follows the connection; useChannel shows an event published over HTTP, once', async () => {
    const { page, problems } = await openPage();
    await show(page, 'status');
    await page.locator('[data-testid=status][data-status=connected]').waitFor();
    expect(await page.getByTestId('status').textContent()).toContain('over fetch');

    await show(page, 'channel');
    await connectedWith(page, ['user:alice', 'room:a']);
    expect((await counts(page)).subscriptions).toBe(1);
    await publish('room:a', { n: 1 });
    await page.getByTestId('channel-log').getByText('room:a:{"n":1}').waitFor();
    // A second event proves the first was not delivered twice before it.
    await publish('room:a', { n: 2 });
    await page.getByTestId('channel-log').getByText('room:a:{"n":2}').waitFor();
    expect((await received(page)).channel).toEqual(['room:a:{"n":1}', 'room:a:{"n":2}']);
    expect(problems).toEqual([]);
  });

  it('changing the channel ref resubscribes without losing events of the kept channels', async () => {
    const { page, problems } = await openPage();
    await show(page, 'channel');
    await show(page, 'keeper');
    await connectedWith(page, ['user:alice', 'room:a', 'keep']);
    await publish('keep', 1);
    await publish('room:a', 'a1');
    await waitFor(async () => (await received(page)).keeper.length === 1);
    await waitFor(async () => (await received(page)).channel.length === 1);

    // Switch, and publish on the kept channel while the client reconnects: that event comes
    // either on the old stream or replayed on the new one, never lost and never twice.
    await page.evaluate(() => (globalThis as any).harness.setChannel('room:b'));
    await publish('keep', 2);
    await publish('room:a', 'a2'); // no longer followed: must not arrive
    await connectedWith(page, ['user:alice', 'room:b', 'keep']);
    await publish('keep', 3);
    await publish('room:b', 'b1');
    await waitFor(async () => (await received(page)).channel.includes('room:b:"b1"'));
    await waitFor(async () => (await received(page)).keeper.length >= 3);
    const got = await received(page);
    expect(got.keeper).toEqual(['keep:1', 'keep:2', 'keep:3']);
    // The fixture shows each event's wire text: string data is its JSON text.
    expect(got.channel.filter((l) => l !== 'room:a:"a2"')).toEqual(['room:a:"a1"', 'room:b:"b1"']);
    expect(got.channel).not.toContain('room:a:"a2"');
    expect((await counts(page)).subscriptions).toBe(2);

    // null subscribes to nothing; the channel leaves the stream.
    await page.evaluate(() => (globalThis as any).harness.setChannel(null));
    await connectedWith(page, ['user:alice', 'keep']);
    expect((await counts(page)).subscriptions).toBe(1);
    expect(problems).toEqual([]);
  });

  it('a notification read in one page updates the list and unread count of another', async () => {
    const user = 'bob';
    const { one, two, id } = await twoInboxPages(openPage, notify, user);

    await one.page
      .locator(`[data-testid=inbox] li[data-id="${id}"] button`, { hasText: /^read$/ })
      .click();
    // The other page learns it from the live state events: notification.read, then summary.
    await two.page.locator(`[data-testid=inbox] li[data-id="${id}"][data-read=true]`).waitFor();
    await two.page
      .locator(`[data-testid=unread-list] li[data-id="${id}"]`)
      .waitFor({ state: 'detached' });
    await two.page.locator('[data-testid=unread]', { hasText: '0' }).waitFor();
    await one.page.locator(`[data-testid=inbox] li[data-id="${id}"][data-read=true]`).waitFor();
    await one.page.locator('[data-testid=unread]', { hasText: '0' }).waitFor();

    // Unread again from the second page brings it back into the first page's unread list.
    await unreadAgainFollows(two.page, one.page, id);

    // Archive leaves the (unarchived) inbox in both pages.
    await one.page
      .locator(`[data-testid=inbox] li[data-id="${id}"] button`, { hasText: 'archive' })
      .click();
    await two.page
      .locator(`[data-testid=inbox] li[data-id="${id}"]`)
      .waitFor({ state: 'detached' });
    expect(await one.page.getByTestId('action-error').textContent()).toBe('');
    expect([...one.problems, ...two.problems]).toEqual([]);
  });

  it('pages the inbox with its cursor', async () => {
    const user = 'carol';
    const ids = [];
    for (const title of ['first', 'second', 'third']) ids.push(await notify(user, title));
    const { page, problems } = await openPage(user);
    await show(page, 'inbox');
    const items = page.locator('[data-testid=inbox] li');
    await page.locator('[data-testid=inbox][data-status=success]').waitFor({ state: 'attached' });
    // limit 2: the newest two, then the third after loadMore.
    await waitFor(async () => (await items.count()) === 2);
    await page.getByTestId('more').click();
    await waitFor(async () => (await items.count()) === 3);
    expect(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).toEqual(
      [...ids].reverse(),
    );
    await page.getByTestId('more').waitFor({ state: 'detached' });
    expect(problems).toEqual([]);
  });

  it("unmounting returns the client's listeners and subscriptions to zero", async () => {
    const { page, problems } = await openPage('dave');
    await connectedWith(page, ['user:dave']);
    expect(await counts(page)).toMatchObject({ on: 0, subscriptions: 0 });
    for (const w of ['status', 'channel', 'keeper', 'inbox']) await show(page, w);
    await page.locator('[data-testid=inbox][data-status=success]').waitFor({ state: 'attached' });
    await connectedWith(page, ['user:dave', 'room:a', 'keep']);
    const busy = await counts(page);
    expect(busy.on).toBeGreaterThan(0);
    expect(busy.subscriptions).toBe(2);

    for (const w of ['status', 'channel', 'keeper', 'inbox']) await show(page, w, false);
    await waitFor(async () => {
      const c = await counts(page);
      return c.on === 0 && c.subscriptions === 0;
    });
    await connectedWith(page, ['user:dave']);

    // Mounting again subscribes once more, not twice.
    await show(page, 'channel');
    await connectedWith(page, ['user:dave', 'room:a']);
    expect((await counts(page)).subscriptions).toBe(1);

    // The app's unmount closes the client the plugin made.
    await page.evaluate(() => (globalThis as any).harness.unmountApp());
    await waitFor(async () => (await counts(page)).state === 'closed');
    expect(await counts(page)).toMatchObject({ on: 0, subscriptions: 0 });
    expect(problems).toEqual([]);
  });

  it('provideHerald gives a subtree its own client and closes it on unmount', async () => {
    const { page, problems } = await openPage('erin');
    const token = await suite.t.token('erin');
    await page.evaluate((tok) => (globalThis as any).harness.provide(tok), token);
    await page.locator('[data-testid=provided][data-status=connected]').waitFor();
    await page.evaluate(() => (globalThis as any).harness.unmountProvided());
    await waitFor(
      async () =>
        (await page.evaluate(() => (globalThis as any).harness.providedState())) === 'closed',
    );
    expect(problems).toEqual([]);
  });
});
