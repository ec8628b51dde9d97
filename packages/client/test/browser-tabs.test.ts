import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { browserBundle, launch, staticServer } from './browser-harness.js';

// Three tabs of one origin in real Chromium share one stream (Web Locks + BroadcastChannel).
let srv: TestServer;
let web: Awaited<ReturnType<typeof staticServer>>;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  web = await staticServer(await browserBundle());
  srv = await startServer({ corsOrigins: [web.url], retryMs: 100 });
  browser = await launch();
  context = await browser.newContext();
});
afterAll(async () => {
  await context?.close();
  await browser?.close();
  await srv?.close();
  await web?.close();
});

async function openTab(token: string, channel = 'user:tabs'): Promise<Page> {
  const page = await context.newPage();
  await page.goto(web.url + '/');
  await page.waitForFunction(() => (window as any).ready === true);
  await page.evaluate(
    ([url, token, channel]) => {
      const w = window as any;
      w.got = [];
      w.h = new w.Herald({
        url,
        channels: [channel],
        getToken: () => token,
        minReconnectDelayMs: 50,
        maxReconnectDelayMs: 500,
      });
      w.h.on('event', (e: any) => w.got.push(e.data.n));
    },
    [srv.url, token, channel] as const,
  );
  return page;
}

const got = (p: Page) => p.evaluate(() => (window as any).got as number[]);
const transport = (p: Page) => p.evaluate(() => (window as any).h.transport as string | null);
const state = (p: Page) => p.evaluate(() => (window as any).h.state as string);
const connections = async () =>
  ((await (await fetch(srv.url + '/healthz')).json()) as { connections: number }).connections;

async function everyTabHas(pages: Page[], n: number) {
  for (const p of pages) {
    await waitFor(async () => (await got(p)).length >= n, 15_000, `a tab to get ${n} events`);
    expect(await got(p)).toEqual([...Array(n).keys()]);
  }
}

describe('one connection per browser', () => {
  it('three tabs hold one stream, each sees every event once, and the leader hands over', async () => {
    const token = await srv.token('tabs');
    const pages = [await openTab(token), await openTab(token), await openTab(token)];
    for (const p of pages) await waitFor(async () => (await state(p)) === 'connected');
    await waitFor(async () => (await connections()) === 1, 10_000, 'one stream');
    const kinds = await Promise.all(pages.map(transport));
    expect(kinds.filter((k) => k === 'shared')).toHaveLength(2);
    expect(await connections()).toBe(1);

    let n = 0;
    const publish = async () => {
      const r = await srv.post('/publish', { channel: 'user:tabs', data: { n: n++ } });
      expect(r.status).toBe(202);
    };
    for (let i = 0; i < 20; i++) await publish();
    await everyTabHas(pages, 20);

    // Close the leader while events keep coming: another tab takes over from its cursor.
    const leader = pages[kinds.findIndex((k) => k !== 'shared')]!;
    const rest = pages.filter((p) => p !== leader);
    const publishing = (async () => {
      for (let i = 0; i < 40; i++) {
        await publish();
        if (i === 10) await leader.close();
      }
    })();
    await publishing;
    await everyTabHas(rest, 60);
    await waitFor(async () => (await connections()) === 1, 10_000, 'one stream after handover');
    expect((await Promise.all(rest.map(transport))).filter((k) => k === 'shared')).toHaveLength(1);
    for (const p of rest) await p.close();
    await waitFor(async () => (await connections()) === 0, 10_000, 'no stream left');
  });

  it('two users in tabs of one browser share per user: each gets only its own events', async () => {
    const [ann, ben] = [await srv.token('ann'), await srv.token('ben')];
    const annTabs = [await openTab(ann, 'user:ann'), await openTab(ann, 'user:ann')];
    const benTabs = [await openTab(ben, 'user:ben'), await openTab(ben, 'user:ben')];
    const pages = [...annTabs, ...benTabs];
    for (const p of pages) await waitFor(async () => (await state(p)) === 'connected');
    await waitFor(async () => (await connections()) === 2, 10_000, 'one stream per user');
    for (const tabs of [annTabs, benTabs])
      expect((await Promise.all(tabs.map(transport))).filter((k) => k === 'shared')).toHaveLength(
        1,
      );
    for (let n = 0; n < 5; n++) {
      expect((await srv.post('/publish', { channel: 'user:ann', data: { n } })).status).toBe(202);
      expect(
        (await srv.post('/publish', { channel: 'user:ben', data: { n: 100 + n } })).status,
      ).toBe(202);
    }
    await everyTabHas(annTabs, 5);
    for (const p of benTabs) {
      await waitFor(async () => (await got(p)).length >= 5, 15_000, 'ben to get 5 events');
      expect(await got(p)).toEqual([100, 101, 102, 103, 104]);
    }
    expect(await connections()).toBe(2);
    for (const p of pages) await p.close();
    await waitFor(async () => (await connections()) === 0, 10_000, 'no stream left');
  });

  it('offline closes the stream at once; online resumes it from the cursor', async () => {
    const token = await srv.token('net');
    const page = await context.newPage();
    await page.goto(web.url + '/');
    await page.waitForFunction(() => (window as any).ready === true);
    await page.evaluate(
      ([url, token]) => {
        const w = window as any;
        w.got = [];
        w.reasons = [];
        w.h = new w.Herald({ url, channels: ['user:net'], getToken: () => token, shared: false });
        w.h.on('event', (e: any) => w.got.push(e.data.n));
        w.h.on('state', (s: any) => w.reasons.push(s.state + ':' + s.reason.code));
      },
      [srv.url, token] as const,
    );
    await waitFor(async () => (await state(page)) === 'connected');
    expect(await transport(page)).toBe('fetch');
    let n = 0;
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++)
        expect((await srv.post('/publish', { channel: 'user:net', data: { n: n++ } })).status).toBe(
          202,
        );
    };
    await publish(3);
    await waitFor(async () => (await got(page)).length === 3);
    await context.setOffline(true);
    await waitFor(async () => (await state(page)) === 'reconnecting');
    await publish(5); // published while the tab is offline
    await context.setOffline(false);
    await waitFor(async () => (await got(page)).length === 8, 15_000, 'events after online');
    expect(await got(page)).toEqual([...Array(8).keys()]);
    const reasons = await page.evaluate(() => (window as any).reasons as string[]);
    expect(reasons).toContain('reconnecting:offline');
    await page.close();
  });
});
