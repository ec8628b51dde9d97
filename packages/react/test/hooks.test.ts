import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  connectedWith,
  pageSuite,
  showWidget,
  twoInboxPages,
  unreadAgainFollows,
  type HarnessCounts,
  type OpenedPage,
} from '../../client/test/page-suite.js';
import { waitFor } from '../../server/test/helpers.js';

/**
 * The hooks in a real Chromium against a real Herald (dev mode, for the answer producer and
 * its stream buffer): a React test page (test/page, bundled with esbuild, served by Herald
 * itself, in StrictMode) shows widgets that use them, and the tests publish over HTTP, click,
 * and read the page. One browser and one server for the file.
 */

const here = dirname(fileURLToPath(import.meta.url));
const CHANNELS = ['room:a', 'room:b', 'room:c', 'alerts', 'votes', 'chat:lobby', 'ai:*'];

const suite = pageSuite(join(here, 'page/main.tsx'), { server: { dev: true } });
const { publish, notify } = suite;

/** A fresh page with the app started for `user`. */
async function openPage(user = 'alice', strict = true): Promise<OpenedPage> {
  const opened = await suite.open();
  await startApp(opened.page, user, strict);
  return opened;
}

async function startApp(page: Page, user: string, strict = true): Promise<void> {
  const token = await suite.t.token(user, { channels: CHANNELS, publish: ['ai:*'] });
  await page.evaluate(([tok, ch, s]) => (globalThis as any).harness.start(tok, [ch], s), [
    token,
    `user:${user}`,
    strict,
  ] as const);
}

const harness = <T>(page: Page, fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (globalThis as any).harness[f](...a), [fn, args] as const);
const counts = (page: Page) => harness<HarnessCounts & { clients: number }>(page, 'counts');
const received = (page: Page) =>
  harness<{ channel: string[]; events: string[]; seed: string[] }>(page, 'received');
const show = showWidget;

/** The server's open streams (`/healthz`): every /events and /alerts/stream connection. */
async function serverConnections(): Promise<number> {
  const res = await fetch(suite.t.url + '/healthz');
  return ((await res.json()) as { connections: number }).connections;
}

async function closeAll(): Promise<void> {
  await suite.closeAll();
  await waitFor(async () => (await serverConnections()) === 0, 10_000, 'no connection left');
}

async function alert(title: string, severity = 'critical'): Promise<string> {
  const res = await suite.t.post('/notifications', {
    channel: 'alerts',
    title,
    message: title,
    severity,
  });
  expect(res.status).toBe(202);
  return res.body.ids[0] as string;
}

describe('@herald/react in Chromium', () => {
  it('useHerald follows the connection; useChannel shows a published event once', async () => {
    const { page, problems } = await openPage();
    await show(page, 'status');
    await page.locator('[data-testid=status][data-status=connected]').waitFor();
    expect(await page.getByTestId('status').textContent()).toContain('over fetch');

    await show(page, 'channel');
    await connectedWith(page, ['user:alice', 'room:a']);
    // StrictMode mounted the effect twice: one subscription is left, not two.
    expect((await counts(page)).subscriptions).toBe(1);
    await publish('room:a', { n: 1 });
    await page.getByTestId('channel-log').getByText('room:a:{"n":1}').waitFor();
    await publish('room:a', { n: 2 });
    await page.getByTestId('channel-log').getByText('room:a:{"n":2}').waitFor();
    expect((await received(page)).channel).toEqual(['room:a:{"n":1}', 'room:a:{"n":2}']);

    // A new channel resubscribes; null subscribes to nothing.
    await harness(page, 'setChannel', 'room:b');
    await connectedWith(page, ['user:alice', 'room:b']);
    await publish('room:b', 'b1');
    await page.getByTestId('channel-log').getByText('room:b:"b1"').waitFor();
    await harness(page, 'setChannel', null);
    await connectedWith(page, ['user:alice']);
    expect((await counts(page)).subscriptions).toBe(0);
    expect(problems).toEqual([]);
  });

  it('useEvents keeps the latest events of its channels, at most max, and clears', async () => {
    const { page, problems } = await openPage();
    await show(page, 'events');
    await connectedWith(page, ['user:alice', 'room:b', 'room:c']);
    expect((await counts(page)).subscriptions).toBe(2);
    for (const [ch, n] of [
      ['room:b', 1],
      ['room:c', 2],
      ['room:b', 3],
      ['room:c', 4],
    ] as const) {
      await publish(ch, n);
    }
    await page.getByTestId('events').getByText('room:c:4').waitFor();
    expect((await received(page)).events).toEqual(['room:c:2', 'room:b:3', 'room:c:4']);
    await page.getByTestId('clear').click();
    await waitFor(async () => (await received(page)).events.length === 0);
    expect(problems).toEqual([]);
  });

  it('useNotifications: optimistic read reconciled, another tab follows, the count moves', async () => {
    const user = 'bob';
    const { one, two, id } = await twoInboxPages(openPage, notify, user);

    // Read on the first page: its list changes before the server answers (the request is
    // held back), then the server's state events reach both pages.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await one.page.route('**/notifications/*/read', async (route) => {
      await held;
      await route.continue();
    });
    await one.page
      .locator(`[data-testid=inbox] li[data-id="${id}"] button`, { hasText: /^read$/ })
      .click();
    await one.page.locator(`[data-testid=inbox] li[data-id="${id}"][data-read=true]`).waitFor();
    await one.page
      .locator(`[data-testid=unread-list] li[data-id="${id}"]`)
      .waitFor({ state: 'attached' }); // the other list learns it from the server, not yet
    expect(
      await two.page.locator(`[data-testid=inbox] li[data-id="${id}"]`).getAttribute('data-read'),
    ).toBe('false');
    release();
    await two.page.locator(`[data-testid=inbox] li[data-id="${id}"][data-read=true]`).waitFor();
    for (const p of [one.page, two.page]) {
      await p
        .locator(`[data-testid=unread-list] li[data-id="${id}"]`)
        .waitFor({ state: 'detached' });
      await p.locator('[data-testid=unread]', { hasText: '0' }).waitFor();
    }
    await one.page.unroute('**/notifications/*/read');

    // Unread again from the second page brings it back into the first page's unread list.
    await unreadAgainFollows(two.page, one.page, id);

    // A failed action is undone and says why.
    await one.page.route('**/notifications/*/archive', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'HERALD_ERR_UNAVAILABLE', message: 'down' } }),
      }),
    );
    await one.page
      .locator(`[data-testid=inbox] li[data-id="${id}"] button`, { hasText: 'archive' })
      .click();
    await one.page.getByTestId('action-error').getByText('HERALD_ERR_UNAVAILABLE').waitFor();
    await one.page.locator(`[data-testid=inbox] li[data-id="${id}"]`).waitFor();
    await one.page.unroute('**/notifications/*/archive');

    // Archive leaves the (unarchived) inbox in both pages.
    await one.page
      .locator(`[data-testid=inbox] li[data-id="${id}"] button`, { hasText: 'archive' })
      .click();
    await two.page
      .locator(`[data-testid=inbox] li[data-id="${id}"]`)
      .waitFor({ state: 'detached' });
    await one.page
      .locator(`[data-testid=inbox] li[data-id="${id}"]`)
      .waitFor({ state: 'detached' });
    // The refused archive logged its 503; nothing else went to the console.
    expect(one.problems.filter((p) => !p.includes('503'))).toEqual([]);
    expect(two.problems).toEqual([]);
  });

  it('useNotifications pages with its cursor; markAllRead empties the count', async () => {
    const user = 'carol';
    const ids = [];
    for (const title of ['first', 'second', 'third']) ids.push(await notify(user, title));
    const { page, problems } = await openPage(user);
    await show(page, 'inbox');
    const items = page.locator('[data-testid=inbox] li');
    await page.locator('[data-testid=inbox][data-status=success]').waitFor({ state: 'attached' });
    await waitFor(async () => (await items.count()) === 2);
    await page.getByTestId('more').click();
    await waitFor(async () => (await items.count()) === 3);
    expect(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).toEqual(
      [...ids].reverse(),
    );
    await page.getByTestId('more').waitFor({ state: 'detached' });
    await page.locator('[data-testid=unread]', { hasText: '3' }).waitFor();
    await page.getByTestId('all-read').click();
    await page.locator('[data-testid=unread]', { hasText: '0' }).waitFor();
    await waitFor(async () => (await page.locator('[data-testid=unread-list] li').count()) === 0);
    expect(problems).toEqual([]);
  });

  it('useAlertStream: summary, historical, new, and an ack every viewer sees', async () => {
    const old = await alert('disk 91% on db-1', 'high');
    const one = await openPage('dana');
    const two = await openPage('erin');
    for (const p of [one.page, two.page]) {
      await show(p, 'alerts');
      await p.locator('[data-testid=alerts][data-status=connected]').waitFor({ state: 'attached' });
      // historical: the alert sent before the page opened; no live one yet.
      await p.locator(`[data-testid=alerts] li[data-id="${old}"][data-acked=false]`).waitFor();
      expect(await p.getByTestId('alerts').getAttribute('data-new')).toBe('no');
    }
    const unacked = Number(await one.page.getByTestId('alerts').getAttribute('data-unacked'));
    expect(unacked).toBeGreaterThanOrEqual(1);

    const fresh = await alert('cpu 97% on db-2', 'critical');
    for (const p of [one.page, two.page]) {
      await p.locator(`[data-testid=alerts] li[data-id="${fresh}"]`).waitFor();
      await p.locator(`[data-testid=alerts][data-new=yes][data-unacked="${unacked + 1}"]`).waitFor({
        state: 'attached',
      });
      // Newest first.
      expect(await p.locator('[data-testid=alerts] li').first().getAttribute('data-id')).toBe(
        fresh,
      );
    }

    await one.page
      .locator(`[data-testid=alerts] li[data-id="${fresh}"] button`, { hasText: 'ack' })
      .click();
    for (const p of [one.page, two.page]) {
      await p.locator(`[data-testid=alerts] li[data-id="${fresh}"][data-acked=true]`).waitFor();
      await p.locator(`[data-testid=alerts][data-unacked="${unacked}"]`).waitFor({
        state: 'attached',
      });
    }
    expect([...one.problems, ...two.problems]).toEqual([]);
  });

  it('useAlertStream stops, with the reason, when the feed is refused', async () => {
    const { page, problems } = await suite.open();
    const token = await suite.t.token('kim'); // may not read the alerts feed
    await page.evaluate((tok) => (globalThis as any).harness.start(tok, ['user:kim']), token);
    await show(page, 'alerts');
    const refused = page.locator('[data-testid=alerts][data-status=disconnected]');
    await refused.waitFor({ state: 'attached' });
    expect(await refused.getAttribute('data-reason')).toMatch(/^HERALD_ERR_/);
    // The browser logs the refused request (twice: StrictMode mounted the stream twice).
    expect(problems.filter((p) => !/status of 40[34]/.test(p))).toEqual([]);
  });

  it('useStreamingText follows a token stream published through the hub, by index', async () => {
    const { page, problems } = await openPage('fay');
    // A server without the stream buffer answers GET /streams 404: live events only.
    await page.route('**/streams/**', (route) =>
      route.fulfill({
        status: 404,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'HERALD_ERR_NOT_FOUND', message: 'no route' } }),
      }),
    );
    await harness(page, 'setTextChannel', 'ai:x');
    await show(page, 'text');
    await connectedWith(page, ['user:fay', 'ai:x']);
    await publish('ai:x', { stream: 's1', prompt: 'hi' }, 'ai_start');
    const tokens = ['Hello', ', ', 'wor', 'ld', '!'];
    // Out of order and one repeated: shown in order, once.
    for (const i of [0, 2, 1, 1, 3]) {
      await publish('ai:x', { stream: 's1', i, token: tokens[i] }, 'ai_response', false);
    }
    await page.locator('[data-testid=text][data-tokens="4"][data-status=streaming]').waitFor();
    expect(await page.getByTestId('answer').textContent()).toBe('Hello, world');
    await publish(
      'ai:x',
      { stream: 's1', text: 'Hello, world!', n: 5, reason: 'done' },
      'ai_complete',
    );
    await page.locator('[data-testid=text][data-status=complete]').waitFor();
    expect(await page.getByTestId('answer').textContent()).toBe('Hello, world!');
    // Every text rendered was a prefix of the answer: no repeat, no gap on screen.
    const texts = await harness<string[]>(page, 'texts');
    expect(texts.every((s) => 'Hello, world!'.startsWith(s))).toBe(true);

    // A new stream replaces it; the old one's late events change nothing.
    await publish('ai:x', { stream: 's2', prompt: 'again' }, 'ai_start');
    await page.locator('[data-testid=text][data-tokens="0"][data-status=streaming]').waitFor();
    await publish('ai:x', { stream: 's1', i: 5, token: '??' }, 'ai_response', false);
    await publish('ai:x', { stream: 's1', text: 'old', n: 1, reason: 'done' }, 'ai_complete');
    await publish('ai:x', { stream: 's2', i: 0, token: 'Bye' }, 'ai_response', false);
    await page.locator('[data-testid=text][data-tokens="1"][data-status=streaming]').waitFor();
    expect(await page.getByTestId('answer').textContent()).toBe('Bye');
    // The browser logs the 404s it was answered; nothing else.
    expect(problems.filter((p) => !p.includes('status of 404'))).toEqual([]);
  });

  it('useStreamingText resumes after a reload mid-answer and can stop it', async () => {
    const { page, problems } = await openPage('gus');
    const channel = 'ai:gus';
    await harness(page, 'setTextChannel', channel);
    await show(page, 'text');
    await connectedWith(page, ['user:gus', channel]);
    const token = await suite.t.token('gus', { channels: [channel], publish: [channel] });
    const res = await fetch(suite.t.url + '/dev/ai', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, prompt: 'resume', tokenMs: 30 }),
    });
    expect(res.status).toBe(202);
    await page.locator('[data-testid=text][data-status=streaming]').waitFor({ state: 'attached' });
    await waitFor(
      async () => Number(await page.getByTestId('text').getAttribute('data-tokens')) >= 5,
    );
    const before = (await page.getByTestId('answer').textContent()) ?? '';

    await page.reload();
    await startApp(page, 'gus');
    await harness(page, 'setTextChannel', channel);
    await show(page, 'text');
    // The first text after the reload is the buffer's: at least what was shown before.
    await waitFor(async () => (await harness<string[]>(page, 'texts')).some((s) => s !== ''));
    const first = (await harness<string[]>(page, 'texts')).find((s) => s !== '')!;
    expect(first.startsWith(before)).toBe(true);
    await waitFor(
      async () => Number(await page.getByTestId('text').getAttribute('data-tokens')) >= 12,
    );
    await page.getByTestId('stop').click();
    await page.locator('[data-testid=text][data-status=cancelled]').waitFor({ state: 'attached' });
    const final = (await page.getByTestId('answer').textContent()) ?? '';
    const buffered = await fetch(suite.t.url + `/streams/${encodeURIComponent(channel)}`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((r) => r.json() as Promise<{ text: string; status: string }>);
    expect(buffered.status).toBe('cancelled');
    expect(final).toBe(buffered.text);
    // Every text rendered after the reload was a prefix of the answer: no repeat, no gap.
    const texts = await harness<string[]>(page, 'texts');
    expect(texts.every((s) => final.startsWith(s))).toBe(true);
    expect(problems).toEqual([]);
  });

  it("seed 001's useVoteSSE, useChatSSE and useAISSE get their channels' data", async () => {
    const { page, problems } = await openPage('hal');
    await show(page, 'seed');
    await connectedWith(page, ['user:hal', 'votes', 'chat:lobby', 'ai:eve']);
    await page.locator('[data-testid=seed][data-connected=true]').waitFor();
    await publish('votes', { yes: 3, no: 1 }, 'vote_update');
    await publish('chat:lobby', { from: 'x', text: 'hi' }, 'chat_message');
    await publish('ai:eve', { stream: 's', i: 0, token: 'Hel' }, 'ai_response', false);
    await publish('ai:eve', { stream: 's', text: 'Hel', n: 1, reason: 'done' }, 'ai_complete');
    await page.locator('[data-testid=seed]', { hasText: '4' }).waitFor();
    expect((await received(page)).seed).toEqual([
      'votes:{"yes":3,"no":1}',
      'chat:{"from":"x","text":"hi"}',
      'ai:ai_response:Hel',
      'ai:ai_complete:Hel',
    ]);
    expect((await counts(page)).subscriptions).toBe(3);
    expect(problems).toEqual([]);
  });

  it('StrictMode: one connection and one subscription each; zero after unmount', async () => {
    await closeAll();
    const { page, problems } = await openPage('ivy');
    await connectedWith(page, ['user:ivy']);
    // One client although StrictMode rendered the provider twice.
    expect(await counts(page)).toMatchObject({ on: 0, subscriptions: 0, clients: 1 });
    for (const w of ['status', 'channel', 'events', 'inbox', 'alerts', 'text', 'seed']) {
      await show(page, w);
    }
    const all = [
      'user:ivy',
      'room:a',
      'room:b',
      'room:c',
      'ai:s1',
      'votes',
      'chat:lobby',
      'ai:eve',
    ];
    await connectedWith(page, all);
    await page
      .locator('[data-testid=alerts][data-status=connected]')
      .waitFor({ state: 'attached' });
    await page.locator('[data-testid=inbox][data-status=success]').waitFor({ state: 'attached' });
    // channel 1 + events 2 + text 1 + seed 3, each once although StrictMode ran every effect
    // twice; two streams on the server: the client's and the alert stream.
    const busy = await counts(page);
    expect(busy.subscriptions).toBe(7);
    // useHerald's state listener twice (status, seed's three share one each: 4) and the
    // inbox's: two lists and the count, each an event, a reset and a state listener (the
    // reload at the first `connected`).
    expect(busy.on).toBe(4 + 9);
    expect(await serverConnections()).toBe(2);

    for (const w of ['status', 'channel', 'events', 'inbox', 'alerts', 'text', 'seed']) {
      await show(page, w, false);
    }
    await waitFor(async () => {
      const c = await counts(page);
      return c.on === 0 && c.subscriptions === 0;
    });
    await connectedWith(page, ['user:ivy']);
    await waitFor(async () => (await serverConnections()) === 1, 10_000, 'the alert stream closed');

    // Unmounting the app closes the client the provider made, a tick later.
    await harness(page, 'unmount');
    await waitFor(async () => (await counts(page)).state === 'closed');
    expect((await counts(page)).clients).toBe(0);
    await waitFor(async () => (await serverConnections()) === 0, 10_000, 'the stream closed');
    expect(problems).toEqual([]);
  });
});
