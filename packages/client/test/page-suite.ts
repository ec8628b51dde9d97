import { rmSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Config } from '../../server/src/config.js';
import { startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { bundleTestPage, launch, watchProblems } from './browser-harness.js';

/**
 * The frame of the framework bindings' browser tests (@herald/vue, @herald/react): one test
 * page bundled from `entry`, one Herald serving it, one Chromium, for the whole file. The
 * page exposes `window.harness` with `counts()` (the client's listeners, subscriptions,
 * channels and state), which the helpers below read.
 */
export interface PageSuite {
  readonly t: TestServer;
  /** A fresh page (its own context: no shared storage, no tab link) at the server's `/`. */
  open(): Promise<OpenedPage>;
  /** Closes every page opened so far. */
  closeAll(): Promise<void>;
  /** POST /publish with the test key. */
  readonly publish: (
    channel: string,
    data: unknown,
    type?: string,
    durable?: boolean,
  ) => Promise<void>;
  /** POST /notify/{user}; returns the notification's id. */
  readonly notify: (user: string, title: string) => Promise<string>;
}

export interface OpenedPage {
  readonly page: Page;
  /** Page errors, console errors and warnings. */
  readonly problems: string[];
  readonly context: BrowserContext;
}

export interface HarnessCounts {
  on: number;
  subscriptions: number;
  channels: string[];
  state: string;
}

export function pageSuite(
  entry: string,
  options: { define?: Record<string, string>; server?: Partial<Config> } = {},
): PageSuite {
  let t: TestServer | undefined;
  let browser: Browser | undefined;
  let webDir: string | undefined;
  const contexts: BrowserContext[] = [];
  const server = () => {
    if (!t) throw new Error('the suite has not started');
    return t;
  };

  beforeAll(async () => {
    webDir = await bundleTestPage(entry, options.define);
    t = await startServer({ webDir, retryMs: 200, ...options.server });
    browser = await launch();
  });
  afterAll(async () => {
    for (const c of contexts.splice(0)) await c.close();
    await browser?.close();
    await t?.close();
    if (webDir) rmSync(webDir, { recursive: true, force: true });
  });

  return {
    get t() {
      return server();
    },
    async open() {
      const context = await browser!.newContext();
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems = watchProblems(page);
      await page.goto(server().url + '/');
      return { page, problems, context };
    },
    async closeAll() {
      for (const c of contexts.splice(0)) await c.close();
    },
    async publish(channel, data, type = 'message', durable = true) {
      const res = await server().post('/publish', { channel, type, data, durable });
      expect(res.status).toBe(202);
    },
    async notify(user, title) {
      const res = await server().post(`/notify/${user}`, { title, message: `${title}!` });
      expect(res.status).toBe(202);
      return res.body.ids[0] as string;
    },
  };
}

/** The page's `harness.counts()`. */
export function harnessCounts(page: Page): Promise<HarnessCounts> {
  return page.evaluate(() => (globalThis as any).harness.counts() as HarnessCounts);
}

/** Until the page's client is connected with exactly these channels on its stream. */
export async function connectedWith(page: Page, channels: string[]): Promise<void> {
  const want = [...channels].sort().join(',');
  await waitFor(
    async () => {
      const c = await harnessCounts(page);
      return c.state === 'connected' && c.channels.join(',') === want;
    },
    10_000,
    `connected with ${want}`,
  );
}

/**
 * The inbox widget both test pages show (test ids `inbox`, `unread`, `unread-list`): until it
 * has loaded its list and count and the stream carries the user's channel.
 */
export async function inboxReady(page: Page, user: string): Promise<void> {
  await page.locator('[data-testid=inbox][data-status=success]').waitFor({ state: 'attached' });
  await page.locator('[data-testid=unread][data-status=success]').waitFor({ state: 'attached' });
  await connectedWith(page, [`user:${user}`]);
}

/** Until every page's inbox widget shows notification `id` unread and the count `count`. */
export async function allShowUnread(pages: Page[], id: string, count: number): Promise<void> {
  for (const p of pages) {
    await p.locator(`[data-testid=inbox] li[data-id="${id}"][data-read=false]`).waitFor();
    await p.locator(`[data-testid=unread-list] li[data-id="${id}"]`).waitFor();
    await p.locator('[data-testid=unread]', { hasText: String(count) }).waitFor();
  }
}

/** The page's `harness.show(widget, on)`: mounts (or unmounts) one of its widgets. */
export async function showWidget(page: Page, widget: string, on = true): Promise<void> {
  await page.evaluate(([w, o]) => (globalThis as any).harness.show(w, o), [widget, on] as const);
}

/**
 * The two-tab setup of both bindings' inbox tests: two pages of `user`, each opened by
 * `open` (the binding's own start) and showing its inbox widget, and one new notification
 * `id` that both show unread, with the count 1.
 */
export async function twoInboxPages<P extends { page: Page }>(
  open: (user: string) => Promise<P>,
  notify: PageSuite['notify'],
  user: string,
): Promise<{ one: P; two: P; id: string }> {
  const one = await open(user);
  const two = await open(user);
  for (const p of [one.page, two.page]) {
    await showWidget(p, 'inbox');
    await inboxReady(p, user);
  }
  const id = await notify(user, 'Build finished');
  await allShowUnread([one.page, two.page], id, 1);
  return { one, two, id };
}

/** Marks `id` unread on page `from`: it comes back into page `to`'s unread list and count. */
export async function unreadAgainFollows(from: Page, to: Page, id: string): Promise<void> {
  await from
    .locator(`[data-testid=inbox] li[data-id="${id}"] button`, { hasText: 'unread' })
    .click();
  await to.locator(`[data-testid=unread-list] li[data-id="${id}"]`).waitFor();
  await to.locator('[data-testid=unread]', { hasText: '1' }).waitFor();
}
