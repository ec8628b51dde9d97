import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServer, type TestServer } from '../../../packages/server/test/helpers.js';
import type { Config } from '../../../packages/server/src/config.js';

export { API_KEY, waitFor } from '../../../packages/server/test/helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/**
 * The built app (`npm run build`, or `npx vite build` in apps/web); WEB_DIST points the tests
 * at another build (`npx vite build --outDir …`).
 */
export const WEB_DIST = process.env['WEB_DIST'] ?? resolve(import.meta.dirname, '../dist');

export interface WebHarness {
  readonly server: TestServer;
  readonly browser: Browser;
  readonly url: string;
  /** A fresh browser context (its own storage: another "device"); closed by `close`. */
  context(opts?: { width?: number; height?: number }): Promise<BrowserContext>;
  /** A page in `context` (default: a new one) whose console errors are collected. */
  page(context?: BrowserContext): Promise<Page>;
  /** A page signed in as `userId` through the dev sign-in form, on `path` (default /app/inbox). */
  signIn(userId: string, opts?: { path?: string; context?: BrowserContext }): Promise<Page>;
  /** Console errors and page errors seen so far (`expectNoConsoleErrors` fails on them). */
  readonly errors: string[];
  /** Throws when a page logged an error. */
  expectNoConsoleErrors(): void;
  /** For afterEach: closes the test's browser contexts, then `expectNoConsoleErrors`. */
  endTest(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One real Herald in dev mode serving the built web app, and one Chromium, for a test file
 * (beforeAll/afterAll). Every page it opens reports console errors and uncaught exceptions
 * into `errors`; a test file calls `expectNoConsoleErrors()` after each test.
 */
export async function startWebHarness(overrides: Partial<Config> = {}): Promise<WebHarness> {
  if (!existsSync(resolve(WEB_DIST, 'index.html'))) {
    throw new Error('apps/web/dist is missing: run `npm run build` first');
  }
  const server = await startServer({ dev: true, webDir: WEB_DIST, ...overrides });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.setDefaultTimeout(15_000);
  };
  const context = async (opts: { width?: number; height?: number } = {}) => {
    const c = await browser.newContext({
      viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    });
    c.on('page', watch);
    contexts.push(c);
    return c;
  };
  const expectNoConsoleErrors = () => {
    if (errors.length > 0) {
      const list = errors.splice(0);
      throw new Error(`console errors:\n${list.join('\n')}`);
    }
  };
  const page = async (c?: BrowserContext) => (c ?? (await context())).newPage();
  return {
    server,
    browser,
    url: server.url,
    errors,
    context,
    page,
    async signIn(userId, opts = {}) {
      const p = await page(opts.context);
      await p.goto(server.url + (opts.path ?? '/app/inbox'));
      await p.getByLabel('User id').fill(userId);
      await p.getByRole('button', { name: 'Sign in', exact: true }).click();
      await p.getByRole('button', { name: 'Sign out' }).waitFor();
      return p;
    },
    expectNoConsoleErrors,
    async endTest() {
      for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
      expectNoConsoleErrors();
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await server.close();
    },
  };
}

/**
 * Controls without an accessible name (a label, aria-label, aria-labelledby, title or text),
 * as short HTML snippets: a test expects none.
 */
export async function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const controls = document.querySelectorAll<HTMLElement>(
      'button, a[href], input:not([type=hidden]), select, textarea, [role=tab], [role=row][tabindex]',
    );
    for (const el of controls) {
      const labelled = el.getAttribute('aria-labelledby');
      const byId = labelled
        ? labelled
            .split(' ')
            .map((id) => document.getElementById(id)?.textContent ?? '')
            .join('')
        : '';
      const labels = (el as HTMLInputElement).labels;
      const fromLabels = labels ? [...labels].map((l) => l.textContent ?? '').join('') : '';
      const name = [
        el.getAttribute('aria-label') ?? '',
        byId,
        fromLabels,
        el.getAttribute('title') ?? '',
        el.tagName === 'INPUT' ? '' : (el.textContent ?? ''),
      ]
        .join('')
        .trim();
      if (!name) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}

/**
 * The service worker's offline copy of the inbox (IndexedDB `herald-offline`), as stored.
 * The page code runs as text: the tests type-check without the DOM library's IndexedDB.
 */
export function keptNotifications<T extends { title: string }>(page: Page): Promise<T[]> {
  return page.evaluate<T[]>(`(async () => {
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open('herald-offline', 1);
      r.onupgradeneeded = () => r.result.createObjectStore('notifications', { keyPath: 'id' }).createIndex('createdAt', 'createdAt');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const all = await new Promise((ok) => {
      const q = db.transaction('notifications').objectStore('notifications').getAll();
      q.onsuccess = () => ok(q.result);
    });
    db.close();
    return all;
  })()`);
}

/**
 * The elements that stick out past the right edge of the viewport, innermost first (tag,
 * classes, test id and how far), for the message of a failed overflow check.
 */
export async function overflowingElements(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const right = el.getBoundingClientRect().right;
      if (right <= width + 0.5) continue;
      // Innermost only: skip an element when one of its children sticks out as far.
      const child = Array.from(el.children).some(
        (c) => c.getBoundingClientRect().right >= right - 0.5,
      );
      if (child) continue;
      const id = el.getAttribute('data-testid');
      const cls = typeof el.className === 'string' && el.className ? `.${el.className}` : '';
      out.push(
        `${el.tagName.toLowerCase()}${cls}${id ? `[${id}]` : ''} +${Math.round(right - width)} px`,
      );
    }
    return out.slice(0, 5);
  });
}

/** How many pixels the page scrolls sideways (0 when nothing sticks out). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
}
