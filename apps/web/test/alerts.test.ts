import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSend } from '../../../packages/server/src/http/inbox-input.js';
import { API_KEY, startWebHarness, waitFor, type WebHarness } from './harness.js';

const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;

/** An alert on the shared feed, as a CEP engine would send it. */
async function alert(h: WebHarness, title: string, severity: string, rule: string) {
  const res = await fetch(`${h.url}/notifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY },
    body: JSON.stringify({
      channel: 'alerts',
      title,
      message: `rule ${rule}`,
      severity,
      data: { rule },
    }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { ids: string[] }).ids[0]!;
}

const rowsShown = (page: Page) => page.getByTestId('alert-grid').getAttribute('data-rows');

describe('the event browser in Chromium', () => {
  let h: WebHarness;
  beforeAll(async () => {
    h = await startWebHarness();
  });
  afterEach(() => h.endTest());
  afterAll(async () => {
    await h.close();
  });

  it('acks in one browser and a second browser sees it live; the bell counts and pulses', async () => {
    await alert(h, 'Disk 91% on web-3', 'high', 'disk-full');
    const a = await h.signIn('ops-a', { path: '/app/alerts', context: await h.context() });
    const b = await h.signIn('ops-b', { path: '/app/alerts', context: await h.context() });
    for (const p of [a, b]) {
      await p.getByTestId('alert-row').filter({ hasText: 'Disk 91%' }).waitFor();
      await expect.poll(() => p.getByTestId('unacked-bell').getAttribute('data-count')).toBe('1');
    }
    await alert(h, 'CPU 97% on db-1', 'critical', 'cpu-high');
    await b.getByTestId('alert-row').filter({ hasText: 'CPU 97%' }).waitFor();
    await expect.poll(() => b.getByTestId('unacked-bell').getAttribute('class')).toContain('pulse');
    await expect.poll(() => b.getByTestId('summary-critical').textContent()).toContain('1');

    await a.getByTestId('alert-row').filter({ hasText: 'CPU 97%' }).click();
    await a.getByTestId('alert-detail').getByRole('heading', { name: 'CPU 97% on db-1' }).waitFor();
    await a.getByRole('button', { name: 'Acknowledge', exact: true }).click();
    await a.getByTestId('acked-by').filter({ hasText: 'ops-a' }).waitFor();

    // The other browser: the row leaves the unacknowledged view, counts go down.
    await expect
      .poll(() => b.getByTestId('alert-row').filter({ hasText: 'CPU 97%' }).count())
      .toBe(0);
    await expect.poll(() => b.getByTestId('unacked-bell').getAttribute('data-count')).toBe('1');
    await expect.poll(() => b.getByTestId('summary-critical').textContent()).toContain('0');
    await b.getByLabel('State').selectOption('all');
    const row = b.getByTestId('alert-row').filter({ hasText: 'CPU 97%' });
    await expect.poll(() => row.getAttribute('data-acked')).toBe('true');
    // Keyboard: Enter opens the detail.
    await row.focus();
    await row.press('Enter');
    await b.getByTestId('acked-by').filter({ hasText: 'ops-a' }).waitFor();
  });

  it('narrows the grid by severity, rule and ack state', async () => {
    await alert(h, 'p99 latency 870 ms', 'medium', 'latency-p99');
    await alert(h, 'Certificate expires', 'low', 'cert-expiry');
    const page = await h.signIn('ops-c', { path: '/app/alerts' });
    await page.getByLabel('State').selectOption('all');
    await expect.poll(() => rowsShown(page)).toBe('4');
    await page.getByRole('button', { name: 'medium', exact: true }).click();
    await expect.poll(() => rowsShown(page)).toBe('1');
    await page.getByRole('button', { name: 'low', exact: true }).click();
    await expect.poll(() => rowsShown(page)).toBe('2');
    await page.getByRole('button', { name: 'medium', exact: true }).click();
    await page.getByRole('button', { name: 'low', exact: true }).click();
    await page.getByLabel('Rule').selectOption('disk-full');
    await expect.poll(() => rowsShown(page)).toBe('1');
    await page.getByLabel('Rule').selectOption('');
    await page.getByLabel('State').selectOption('acked');
    await expect.poll(() => rowsShown(page)).toBe('1');
    await page.getByLabel('State').selectOption('unacked');
    await expect.poll(() => rowsShown(page)).toBe('3');
    await page.getByLabel('Time range').selectOption('15m');
    await expect.poll(() => rowsShown(page)).toBe('3');
  });

  it('stays usable with 10,000 alerts: only a window of rows is in the DOM', async () => {
    const page = await h.signIn('ops-d', { path: '/app/alerts' });
    await page.locator('[data-testid=alert-grid][data-status=connected]').waitFor();
    const before = Number(await rowsShown(page));
    const total = 10_000;
    // In process, many at a time: what is measured is the browser, not 10,000 HTTP calls.
    for (let i = 0; i < total; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, k) => {
          const n = i + k;
          const { content, options } = parseSend({
            title: `Bulk alert ${n}`,
            message: 'load',
            severity: SEVERITIES[n % 5],
            data: { rule: `rule-${n % 4}` },
          });
          return h.server.server.inbox.send(['alerts'], content, options);
        }),
      );
    }
    await waitFor(
      async () => (await rowsShown(page)) === String(total + before),
      60_000,
      'all rows',
    );
    const inDom = await page.getByTestId('alert-row').count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(60);
    // Scroll to the end: the oldest rows render, still only a window of them.
    await page.getByTestId('alert-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
    const lastIndex = () =>
      page
        .getByTestId('alert-row')
        .evaluateAll((rows) => Math.max(...rows.map((r) => Number(r.getAttribute('data-index')))));
    await expect.poll(lastIndex).toBe(total + before - 1);
    expect(await page.getByTestId('alert-row').count()).toBeLessThan(60);
    // Filtering the 10,000: rule-0 is every fourth.
    await page.getByLabel('Rule').selectOption('rule-0');
    await expect.poll(() => rowsShown(page)).toBe(String(total / 4));
    await page.getByRole('button', { name: 'critical', exact: true }).click();
    // n % 5 === 4 and n % 4 === 0: n % 20 === 4, 500 of them.
    await expect.poll(() => rowsShown(page)).toBe(String(total / 20));
    expect(await page.getByTestId('alert-row').count()).toBeLessThan(60);
  });
});
