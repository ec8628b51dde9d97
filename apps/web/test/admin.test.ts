import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from '../../../packages/server/test/sse-client.js';
import { API_KEY, startWebHarness, waitFor, type WebHarness } from './harness.js';

/**
 * The admin dashboard (/app/admin) in real Chromium against a real Herald: sign-in and its
 * refusal of ordinary users, live counters, sending, API keys, templates, delivery analytics,
 * phone width.
 */

describe('admin dashboard', () => {
  let h: WebHarness;
  let admin: Page;
  const streams: RawSse[] = [];

  /** Opens a user's stream from Node (the real wire), waiting for its `connected` frame. */
  const stream = async (user: string) => {
    const s = await RawSse.open(`${h.url}/events?channels=user:${user}`, {
      authorization: `Bearer ${await h.server.token(user)}`,
    });
    streams.push(s);
    await waitFor(() => s.events.some((e) => e.event === 'connected'), 10_000, `${user} connected`);
    return s;
  };

  /** A page signed in to the dashboard with `value` (an API key or a token). */
  const signIn = async (page: Page, kind: 'key' | 'token', value: string) => {
    await page.goto(`${h.url}/app/admin`);
    await page.getByRole('radio', { name: kind === 'key' ? 'API key' : 'Token' }).check();
    await page.getByLabel(kind === 'key' ? 'Admin API key' : 'Admin token').fill(value);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  const view = async (name: string) => {
    await admin.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name }).click();
    await admin.getByRole('heading', { level: 2, name }).waitFor();
  };

  beforeAll(async () => {
    h = await startWebHarness({ deliveryPollIntervalMs: 50 });
    admin = await h.page();
    await signIn(admin, 'key', API_KEY);
    await admin.getByRole('navigation', { name: 'Admin' }).waitFor();
  });
  afterEach(() => {
    for (const s of streams.splice(0)) s.close();
    h.expectNoConsoleErrors();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Chromium logs every 4xx answer as a console error; drop the ones a test expects. */
  const expectRefusalsLogged = (status: number) => {
    const expected = `the server responded with a status of ${status}`;
    for (let i = h.errors.length - 1; i >= 0; i--) {
      if (h.errors[i]!.includes(expected)) h.errors.splice(i, 1);
    }
  };

  it('tells a user token it is not an admin and shows no admin data; the API refuses it', async () => {
    const token = await h.server.token('mallory');
    const page = await h.page();
    await signIn(page, 'token', token);
    await expect
      .poll(() => page.getByTestId('signin-error').textContent())
      .toContain('not an admin');
    expect(await page.getByRole('navigation', { name: 'Admin' }).count()).toBe(0);
    expect(await page.getByTestId('stat-connections').count()).toBe(0);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);

    // The same token straight at the admin API: every route says 403, with no data.
    const answers = await page.evaluate(async (t) => {
      const out: { path: string; status: number; code: string | undefined }[] = [];
      for (const [method, path] of [
        ['GET', '/admin/stats'],
        ['GET', '/admin/keys'],
        ['POST', '/admin/keys'],
        ['GET', '/admin/delivery/stats'],
        ['GET', '/admin/delivery/jobs'],
      ] as const) {
        const r = await fetch(path, {
          method,
          headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: JSON.stringify({ name: 'x', admin: true }) } : {}),
        });
        const body = (await r.json()) as { error?: { code?: string } };
        out.push({ path: `${method} ${path}`, status: r.status, code: body.error?.code });
      }
      return out;
    }, token);
    for (const a of answers) {
      expect(a, a.path).toMatchObject({ status: 403, code: 'HERALD_ERR_FORBIDDEN_ADMIN' });
    }

    // A wrong key is refused as such.
    await signIn(page, 'key', 'not-a-key');
    await expect
      .poll(() => page.getByTestId('signin-error').textContent())
      .toContain('did not accept');
    expectRefusalsLogged(403);
    expectRefusalsLogged(401);
    await page.close();
  });

  it('signs in with an admin token too; one without publish grants is told it may not send', async () => {
    const token = await h.server.server.tokens.mint({ sub: 'root', admin: true, ttlSec: 600 });
    const page = await h.page();
    await signIn(page, 'token', token);
    await page.getByTestId('stat-connections').waitFor();
    await page
      .getByRole('navigation', { name: 'Admin' })
      .getByRole('link', { name: 'Send' })
      .click();
    await page.getByLabel('User id').fill('kim');
    await page.getByLabel('Title').fill('Not allowed');
    await page.getByLabel('Message').fill('no grant');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/publish|channel/i);
    expectRefusalsLogged(403);
    await page.close();
  });

  it('moves the live counters when clients connect and leave', async () => {
    await view('Overview');
    const connections = admin.getByTestId('stat-connections');
    const users = admin.getByTestId('stat-users');
    await expect.poll(() => connections.textContent(), { timeout: 10_000 }).toBe('0');
    const a = await stream('ann');
    await stream('ann');
    await stream('bob');
    await expect.poll(() => connections.textContent(), { timeout: 10_000 }).toBe('3');
    await expect.poll(() => users.textContent(), { timeout: 10_000 }).toBe('2');
    a.close();
    await expect.poll(() => connections.textContent(), { timeout: 10_000 }).toBe('2');
    // The chart has drawn samples of both levels.
    const label = await admin
      .getByRole('img', { name: /^Connections:/ })
      .getAttribute('aria-label');
    expect(label).toMatch(/peak 3/);
    for (const s of streams.splice(0)) s.close();
    await expect.poll(() => connections.textContent(), { timeout: 10_000 }).toBe('0');
    await expect.poll(() => users.textContent(), { timeout: 10_000 }).toBe('0');
  });

  it('counts publishes and deliveries per second', async () => {
    await view('Overview');
    await stream('cy');
    const before = Number(await admin.getByTestId('stat-published-total').textContent());
    for (let i = 0; i < 5; i++) {
      const r = await h.server.post('/notify/cy', { title: `n${i}`, message: 'm' });
      expect(r.status).toBe(202);
    }
    await expect
      .poll(async () => Number(await admin.getByTestId('stat-published-total').textContent()), {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(before + 5);
    const peak = async (name: string) => {
      const label = await admin
        .getByRole('img', { name: new RegExp(`^${name}:`) })
        .getAttribute('aria-label');
      return Number(/peak ([\d.]+)/.exec(label ?? '')?.[1] ?? 0);
    };
    await expect.poll(() => peak('Publishes'), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => peak('Deliveries'), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  it('sends to one user, a group and everyone from the dashboard; it reaches their streams', async () => {
    const dee = await stream('dee');
    const eve = await stream('eve');
    const fay = await stream('fay');
    await view('Send');
    await admin.getByLabel('User id').fill('dee');
    await admin.getByLabel('Title').fill('Invoice ready');
    await admin.getByLabel('Message').fill('Your December invoice');
    await admin.getByLabel('Category').fill('billing');
    await admin.getByLabel('Priority').selectOption('high');
    await admin.getByRole('button', { name: 'Send' }).click();
    await admin.getByRole('status').filter({ hasText: 'Sent to dee' }).waitFor();
    const got = (s: RawSse, title: string) =>
      s.events.find((e) => e.event === 'notification' && JSON.parse(e.data).title === title);
    await waitFor(() => got(dee, 'Invoice ready') !== undefined, 10_000, 'dee gets it');
    expect(JSON.parse(got(dee, 'Invoice ready')!.data)).toMatchObject({
      message: 'Your December invoice',
      category: 'billing',
      priority: 'high',
    });

    await admin.getByRole('radio', { name: 'Group' }).check();
    await admin.getByLabel('User ids').fill('eve, fay');
    await admin.getByLabel('Title').fill('Team update');
    await admin.getByRole('button', { name: 'Send' }).click();
    await admin.getByRole('status').filter({ hasText: 'Sent to 2 users' }).waitFor();
    await waitFor(() => got(eve, 'Team update') !== undefined, 10_000, 'eve gets it');
    await waitFor(() => got(fay, 'Team update') !== undefined, 10_000, 'fay gets it');
    expect(got(dee, 'Team update')).toBeUndefined();

    // Everyone: stored once, live on the broadcast channel.
    const all = await RawSse.open(`${h.url}/events?channels=user:jo,broadcast`, {
      authorization: `Bearer ${await h.server.token('jo')}`,
    });
    streams.push(all);
    await waitFor(() => all.events.some((e) => e.event === 'connected'), 10_000, 'jo connected');
    await admin.getByRole('radio', { name: 'Everyone' }).check();
    await admin.getByLabel('Title').fill('Maintenance tonight');
    await admin.getByRole('button', { name: 'Send' }).click();
    await admin.getByRole('status').filter({ hasText: 'Sent to everyone' }).waitFor();
    await waitFor(() => got(all, 'Maintenance tonight') !== undefined, 10_000, 'jo gets it');
    expect(got(all, 'Maintenance tonight')!.channel).toBe('broadcast');
  });

  it('edits a template with a preview, sends with it, and deletes it', async () => {
    await view('Templates');
    await admin.getByLabel('Name').fill('welcome');
    await admin.getByLabel('Title').fill('Welcome, {{name}}');
    await admin.getByLabel('Message').fill('Your plan is {{plan}}.');
    await admin.getByLabel('Category').fill('onboarding');
    await admin.getByLabel('name', { exact: true }).fill('Gil');
    await expect
      .poll(() => admin.getByTestId('template-preview').textContent())
      .toContain('Welcome, Gil');
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.getByRole('status').filter({ hasText: 'Saved "welcome"' }).waitFor();
    const read = () =>
      fetch(`${h.url}/templates/welcome`, { headers: { 'x-herald-key': API_KEY } }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }),
      );
    expect((await read()).body).toMatchObject({
      title: 'Welcome, {{name}}',
      variables: ['name', 'plan'],
    });

    // Edit it: pick it from the list, change the title, save.
    await admin
      .getByTestId('template-list')
      .getByRole('button', { name: /welcome/ })
      .click();
    await admin.getByLabel('Title').fill('Hello {{name}}');
    await admin.getByRole('button', { name: 'Save' }).click();
    await expect.poll(async () => (await read()).body['title']).toBe('Hello {{name}}');

    // Send with it: the form asks for its variables and shows the result.
    const gil = await stream('gil');
    await view('Send');
    await admin.getByRole('radio', { name: 'One user' }).check();
    await admin.getByLabel('User id').fill('gil');
    await admin.getByLabel('Template').selectOption('welcome');
    await admin.getByLabel('name', { exact: true }).fill('Gil');
    await admin.getByLabel('plan', { exact: true }).fill('Pro');
    await admin.getByRole('button', { name: 'Send' }).click();
    await waitFor(
      () =>
        gil.events.some(
          (e) => e.event === 'notification' && JSON.parse(e.data).title === 'Hello Gil',
        ),
      10_000,
      'the templated notification',
    );

    await view('Templates');
    await admin
      .getByTestId('template-list')
      .getByRole('button', { name: /welcome/ })
      .click();
    admin.once('dialog', (d) => void d.accept());
    await admin.getByRole('button', { name: 'Delete' }).click();
    await admin.getByRole('status').filter({ hasText: 'Deleted "welcome"' }).waitFor();
    expect((await read()).status).toBe(404);
    expectRefusalsLogged(404);
  });

  it('creates an API key (shown once) that works, lists it, and revokes it', async () => {
    await view('API keys');
    await admin.getByLabel('Name').fill('billing-service');
    await admin.getByLabel('Publish grants').fill('user:*');
    await admin.getByRole('button', { name: 'Create key' }).click();
    const key = (await admin.getByTestId('new-key').textContent())!.trim();
    expect(key.length).toBeGreaterThan(20);
    const row = admin.getByTestId('keys-table').getByRole('row', { name: /billing-service/ });
    await expect.poll(() => row.textContent()).toContain('active');
    expect(await row.textContent()).toContain('user:*');
    expect(await admin.getByTestId('keys-table').textContent()).not.toContain(key);

    const send = () =>
      fetch(`${h.url}/notify/hal`, {
        method: 'POST',
        headers: { 'x-herald-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 't', message: 'm' }),
      }).then((r) => r.status);
    expect(await send()).toBe(202);

    await admin.getByRole('button', { name: 'Done' }).click();
    expect(await admin.getByTestId('new-key').count()).toBe(0);
    admin.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: /Revoke/ }).click();
    await expect.poll(() => row.textContent()).toContain('revoked');
    await expect.poll(send, { timeout: 10_000 }).toBe(401);
  });

  it('shows delivery counts per channel and category after a send', async () => {
    await view('Send');
    await admin.getByRole('radio', { name: 'One user' }).check();
    await admin.getByLabel('Template').selectOption('');
    await admin.getByLabel('User id').fill('ivy');
    await admin.getByLabel('Title').fill('Delivery check');
    await admin.getByLabel('Message').fill('counted');
    await admin.getByLabel('Category').fill('reports');
    await admin.getByRole('button', { name: 'Send' }).click();
    await admin.getByRole('status').filter({ hasText: 'Sent to ivy' }).waitFor();

    await view('Delivery');
    const sent = admin.locator(
      '[data-testid=delivery-totals] tr[data-channel=in_app] td[data-counter=sent]',
    );
    await expect
      .poll(async () => Number(await sent.textContent()), { timeout: 15_000 })
      .toBeGreaterThan(0);
    // The hourly chart of in-app "sent" has a bar for this hour.
    const chart = admin.getByRole('img', { name: /^in-app sent per hour:/ });
    expect(await chart.getAttribute('aria-label')).not.toMatch(/latest 0,/);
    // Narrowed to the category: only its notification counts.
    await admin.getByLabel('Category').selectOption('reports');
    await expect.poll(() => sent.textContent()).toBe('1');
  });

  it('returns to the sign-in when its key is revoked meanwhile', async () => {
    const created = await h.server.post('/admin/keys', { name: 'temp-admin', admin: true });
    expect(created.status).toBe(201);
    const page = await h.page();
    await signIn(page, 'key', created.body.key as string);
    await page.getByTestId('stat-connections').waitFor();
    const revoked = await fetch(`${h.url}/admin/keys/${created.body.id as string}`, {
      method: 'DELETE',
      headers: { 'x-herald-key': API_KEY },
    });
    expect(revoked.status).toBe(200);
    // The next poll is refused: the credential is dropped and the sign-in explains why.
    await page.getByText('Herald no longer accepts that credential').waitFor({ timeout: 15_000 });
    expect(await page.getByRole('navigation', { name: 'Admin' }).count()).toBe(0);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expectRefusalsLogged(401);
    await page.close();
  });

  it('fits a phone screen (375 px) on every view', async () => {
    const phone = await h.page(await h.context({ width: 375, height: 740 }));
    await signIn(phone, 'key', API_KEY);
    for (const name of ['Overview', 'Send', 'Delivery', 'API keys', 'Templates']) {
      await phone.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name }).click();
      await phone.getByRole('heading', { level: 2, name }).waitFor();
      const width = await phone.evaluate<number>('document.documentElement.scrollWidth');
      expect(width, name).toBeLessThanOrEqual(375);
    }
    await phone.close();
  });
});
