import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startWebHarness, type WebHarness } from './harness.js';

describe('sign-in outside dev mode', () => {
  let h: WebHarness;
  beforeAll(async () => {
    h = await startWebHarness({ dev: false });
  });
  afterEach(() => h.endTest());
  afterAll(async () => {
    await h.close();
  });

  it('offers no dev sign-in and says what a token lacks', async () => {
    const page = await h.page();
    await page.goto(`${h.url}/app/`);
    await page.getByTestId('production-note').waitFor();
    expect(await page.getByLabel('User id').count()).toBe(0);
    // A token without a user, and text that is no token at all: refused before any request.
    const noUser = await h.server.token('');
    await page.getByLabel('Access token').fill(noUser);
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page
      .getByRole('alert', { name: 'What is missing' })
      .getByText('no "sub" claim')
      .waitFor();
    await page.getByLabel('Access token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page.getByRole('alert', { name: 'What is missing' }).getByText('not a JWT').waitFor();
    // A user token without the demo grants: the app says which views it cannot serve.
    await page.getByLabel('Access token').fill(await h.server.token('alice'));
    await page.getByTestId('missing-grants').getByText('alerts').waitFor();
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    expect(page.url()).toBe(`${h.url}/app/`);
  });

  it('keeps a cookie session without keeping the token, and signs out of it', async () => {
    const context = await h.context();
    const page = await h.page(context);
    await page.goto(`${h.url}/app/inbox`);
    await page.getByLabel('Access token').fill(await h.server.token('bob', { ttlSec: 600 }));
    await page.getByLabel(/secure cookie/).check();
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
    const kept = await page.evaluate(() => sessionStorage.getItem('herald.session') ?? '');
    expect(kept).toContain('"mode":"cookie"');
    expect(kept).toContain('"token":null');
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'herald_token')?.httpOnly).toBe(true);
    // The inbox reads (GETs) on the cookie alone, with the double-submit header.
    const res = await fetch(`${h.url}/notify/bob`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY },
      body: JSON.stringify({ title: 'Cookie mail', message: 'read on the cookie' }),
    });
    expect(res.status).toBe(202);
    await page.getByTestId('notification').filter({ hasText: 'Cookie mail' }).waitFor();
    await page.reload();
    await page.getByTestId('notification').filter({ hasText: 'Cookie mail' }).waitFor();

    // Another tab of the same browser continues the cookie session.
    const other = await h.page(context);
    await other.goto(`${h.url}/app/inbox`);
    await other.getByRole('button', { name: 'Continue as bob (cookie session)' }).click();
    await other.getByRole('button', { name: 'Sign out' }).waitFor();
    await other.close();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Access token').waitFor();
    await expect
      .poll(async () => (await context.cookies()).some((c) => c.name === 'herald_token'))
      .toBe(false);
  });
});
