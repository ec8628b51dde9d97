import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWebHarness, waitFor, type WebHarness } from './harness.js';

describe('the live demos in Chromium', () => {
  let h: WebHarness;
  beforeAll(async () => {
    h = await startWebHarness();
  });
  afterEach(() => h.endTest());
  afterAll(async () => {
    await h.close();
  });

  it('converges the vote tally across two browsers, and a late joiner sees it', async () => {
    const a = await h.signIn('voter-a', { path: '/app/demos/votes', context: await h.context() });
    const b = await h.signIn('voter-b', { path: '/app/demos/votes', context: await h.context() });
    const count = (p: typeof a, option: string) =>
      p
        .locator(`[data-testid=vote-option][data-option="${option}"] [data-testid=vote-count]`)
        .textContent();
    await a.getByRole('button', { name: 'Vote for Server-Sent Events' }).click();
    await a.getByRole('button', { name: 'Vote for Server-Sent Events' }).click();
    await b.getByRole('button', { name: 'Vote for WebSockets' }).click();
    for (const p of [a, b]) {
      await expect.poll(() => count(p, 'Server-Sent Events')).toContain('2 votes');
      await expect.poll(() => count(p, 'WebSockets')).toContain('1 vote');
    }
    const late = await h.signIn('voter-c', { path: '/app/demos/votes' });
    await expect.poll(() => count(late, 'Server-Sent Events')).toContain('2 votes · 67%');
  });

  it('shows chat history on join and messages live in both browsers', async () => {
    const a = await h.signIn('ann', { path: '/app/demos/chat', context: await h.context() });
    await a.getByLabel('Message', { exact: true }).fill('first, before bob joins');
    await a.getByRole('button', { name: 'Send' }).click();
    await a.getByTestId('chat-message').filter({ hasText: 'first, before bob joins' }).waitFor();
    const b = await h.signIn('bob', { path: '/app/demos/chat', context: await h.context() });
    await b.getByTestId('chat-message').filter({ hasText: 'first, before bob joins' }).waitFor();
    await b.getByLabel('Message', { exact: true }).fill('hi ann');
    await b.getByLabel('Message', { exact: true }).press('Enter');
    await a.getByTestId('chat-message').filter({ hasText: 'hi ann' }).waitFor();
    for (const p of [a, b]) {
      await expect
        .poll(() => p.getByTestId('chat-message').allTextContents())
        .toEqual([
          expect.stringContaining('first, before bob joins'),
          expect.stringContaining('hi ann'),
        ]);
    }
  });

  it('streams an answer token by token, resumes it after a reload, and stops it', async () => {
    const page = await h.signIn('asker', { path: '/app/demos/ai' });
    const answer = page.getByTestId('ai-answer');
    const status = page.getByTestId('ai-status');
    await page.getByLabel('Prompt').fill('What is SSE?');
    await page.getByRole('button', { name: 'Ask' }).click();
    await expect.poll(() => status.getAttribute('data-status')).toBe('streaming');
    const text = async () => (await answer.textContent()) ?? '';
    await waitFor(
      async () => (await text()).startsWith('You asked') && (await text()).length > 40,
      10_000,
      'tokens',
    );
    const before = (await answer.textContent()) ?? '';
    expect(before.startsWith('You asked: "What is SSE?"')).toBe(true);

    await page.reload();
    // After the reload: the text so far at once, then the rest live, to the full answer.
    await expect
      .poll(async () => ((await answer.textContent()) ?? '').length)
      .toBeGreaterThanOrEqual(before.length);
    expect(((await answer.textContent()) ?? '').startsWith(before)).toBe(true);
    await expect
      .poll(() => status.getAttribute('data-status'), { timeout: 30_000 })
      .toBe('complete');
    const full = (await answer.textContent()) ?? '';
    const token = await h.server.token('asker', { channels: ['ai:*'] });
    const server = await (
      await fetch(`${h.url}/streams/ai:lobby`, { headers: { authorization: `Bearer ${token}` } })
    ).json();
    expect(full).toBe(server.text); // no gap, no repeat

    // A second answer, stopped halfway: every open page sees "cancelled".
    await page.getByRole('button', { name: 'Ask' }).click();
    await expect.poll(() => status.getAttribute('data-status')).toBe('streaming');
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => status.getAttribute('data-status')).toBe('cancelled');
    expect(((await answer.textContent()) ?? '').length).toBeLessThan(full.length);
  });
});
