import Database from 'better-sqlite3';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { call, jobsOf, notify } from './delivery-helpers.js';
import { RawSse } from './sse-client.js';

/**
 * Email through a real SMTP server (smtp-server) started by the test, with authentication;
 * it refuses the first RCPT of `refuse-once@…` with 451 to check the retry.
 */
describe('email delivery', () => {
  let t: TestServer;
  let smtp: SMTPServer;
  const mails: { to: string[]; raw: Buffer; parsed: ParsedMail }[] = [];
  const rcpts: string[] = [];
  let refused = false;

  beforeAll(async () => {
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      onAuth(auth, _session, cb) {
        if (auth.username === 'herald' && auth.password === 'secret')
          return cb(null, { user: 'herald' });
        cb(new Error('bad credentials'));
      },
      onRcptTo(address, _session, cb) {
        rcpts.push(address.address);
        if (address.address.startsWith('refuse-once@') && !refused) {
          refused = true;
          return cb(
            Object.assign(new Error('Mailbox busy, try again later'), { responseCode: 451 }),
          );
        }
        cb();
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          void simpleParser(raw).then((parsed) => {
            mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, parsed });
            cb();
          });
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as { port: number }).port;
    t = await startServer({
      smtpHost: '127.0.0.1',
      smtpPort: port,
      smtpUser: 'herald',
      smtpPassword: 'secret',
      smtpFrom: 'Herald <alerts@herald.test>',
      // Long enough for the test to read a notification before it is due, on a loaded machine.
      deliveryUnreadDelaySec: 3,
      deliveryRetryBaseMs: 20,
      deliveryPollIntervalMs: 50,
    });
  });
  afterAll(async () => {
    await t.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  const setPrefs = async (user: string, prefs: Record<string, unknown>) => {
    const r = await call(t, 'PUT', '/delivery/preferences', await t.token(user), prefs);
    expect(r.status).toBe(200);
  };
  const mailTo = (addr: string) => mails.filter((m) => m.to.includes(addr));

  it('sends a user without a live stream one email: headers, text and HTML bodies', async () => {
    await setPrefs('ann', { email: 'ann@example.org', channels: { push: false, webhook: false } });
    const id = await notify(t, 'ann', {
      title: 'Deploy <done>',
      message: 'Build 42 is live & green',
      url: 'https://ci.example.com/42',
      category: 'ci',
    });
    await waitFor(() => mailTo('ann@example.org').length === 1, 10_000, 'the email');
    const m = mailTo('ann@example.org')[0]!.parsed;
    expect(m.subject).toBe('Deploy <done>');
    expect(m.from?.value).toEqual([{ name: 'Herald', address: 'alerts@herald.test' }]);
    expect((m.to as { text: string }).text).toBe('ann@example.org');
    expect(m.messageId).toMatch(/^<[A-Za-z0-9_-]{32}@herald\.test>$/);
    expect(m.headers.get('x-herald-delivery')).toBe(`email:${id}:ann@example.org`);
    expect(m.headers.get('auto-submitted')).toBe('auto-generated');
    expect(m.text).toContain('Build 42 is live & green');
    expect(m.text).toContain('Open: https://ci.example.com/42');
    // Values are escaped in the HTML part: the title's markup is text, not a tag.
    expect(m.html).toContain('Deploy &#60;done&#62;');
    expect(m.html).toContain('Build 42 is live &#38; green');
    expect(m.html).toContain('<a href="https://ci.example.com/42">Open</a>');
    await waitFor(async () => (await jobsOf(t, id))[0]?.state === 'sent', 5000, 'job sent');
    expect(await jobsOf(t, id)).toEqual([
      expect.objectContaining({
        channel: 'email',
        state: 'sent',
        attempts: 1,
        lastError: null,
        target: 'a…@example.org',
      }),
    ]);
  });

  it('retries when the server refuses once (451), then sends exactly one message', async () => {
    await setPrefs('rita', {
      email: 'refuse-once@example.org',
      channels: { push: false, webhook: false },
    });
    const id = await notify(t, 'rita', { title: 'Retry me' });
    await waitFor(
      async () => (await jobsOf(t, id))[0]?.state === 'sent',
      10_000,
      'job sent after retry',
    );
    const [job] = await jobsOf(t, id);
    expect(job).toMatchObject({ state: 'sent', attempts: 2 });
    expect(rcpts.filter((r) => r === 'refuse-once@example.org')).toHaveLength(2);
    expect(mailTo('refuse-once@example.org')).toHaveLength(1);
  });

  it('a notification read in-app before the delay is never emailed; an unread one is', async () => {
    await setPrefs('carol', {
      email: 'carol@example.org',
      channels: { push: false, webhook: false },
    });
    const token = await t.token('carol');
    const stream = await RawSse.open(`${t.url}/events?channels=user:carol`, {
      authorization: `Bearer ${token}`,
    });
    try {
      await waitFor(() => stream.events.some((e) => e.event === 'connected'), 5000, 'stream');
      const read = await notify(t, 'carol', { title: 'Seen live' });
      const unread = await notify(t, 'carol', { title: 'Left unread' });
      expect((await call(t, 'POST', `/notifications/${read}/read`, token)).status).toBe(200);
      await waitFor(async () => (await jobsOf(t, read))[0]?.state === 'skipped', 10_000, 'skipped');
      expect((await jobsOf(t, read))[0]).toMatchObject({
        state: 'skipped',
        lastError: 'read in-app',
      });
      await waitFor(
        async () => (await jobsOf(t, unread))[0]?.state === 'sent',
        10_000,
        'unread sent',
      );
      const subjects = mailTo('carol@example.org').map((m) => m.parsed.subject);
      expect(subjects).toEqual(['Left unread']);
    } finally {
      stream.close();
    }
  });

  it('renders with the inbox templates "email" and "email.html" when an admin stored them', async () => {
    for (const [name, spec] of [
      ['email', { title: '[Herald] {{title}}', message: '{{body}} (priority {{priority}})' }],
      ['email.html', { title: 'x', message: '<p class="custom">{{title}}: {{body}}</p>' }],
    ] as const) {
      const r = await call(t, 'PUT', `/templates/${name}`, 'key', spec);
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    }
    await setPrefs('tess', {
      email: 'tess@example.org',
      channels: { push: false, webhook: false },
    });
    await notify(t, 'tess', { title: 'T<1>', message: 'B', priority: 'high' });
    await waitFor(() => mailTo('tess@example.org').length === 1, 10_000, 'templated email');
    const m = mailTo('tess@example.org')[0]!.parsed;
    expect(m.subject).toBe('[Herald] T<1>');
    expect(m.text?.trim()).toBe('B (priority high)');
    expect(m.html).toContain('<p class="custom">T&#60;1&#62;: B</p>');
    for (const name of ['email', 'email.html'])
      await call(t, 'DELETE', `/templates/${name}`, 'key');
  });

  it("collects a digest user's unread notifications of the period into one email", async () => {
    await setPrefs('dave', {
      email: 'dave@example.org',
      digest: 'hourly',
      channels: { push: false, webhook: false },
    });
    const ids = [
      await notify(t, 'dave', { title: 'First' }),
      await notify(t, 'dave', { title: 'Second' }),
      await notify(t, 'dave', { title: 'Third, read' }),
    ];
    const token = await t.token('dave');
    await call(t, 'POST', `/notifications/${ids[2]}/read`, token);
    const jobs = await call(t, 'GET', '/admin/delivery/jobs?userId=dave', 'key');
    expect(jobs.body.jobs).toEqual([
      expect.objectContaining({ channel: 'digest', state: 'pending' }),
    ]);
    expect(mailTo('dave@example.org')).toHaveLength(0);
    // The period ends: move the job's due time to now, in the server's own SQLite file.
    const db = new Database(join(t.dataDir, 'herald.db'));
    db.prepare(
      "UPDATE delivery_jobs SET not_before = 0 WHERE channel = 'digest' AND user_id = 'dave'",
    ).run();
    db.close();
    await waitFor(() => mailTo('dave@example.org').length === 1, 10_000, 'digest');
    const m = mailTo('dave@example.org')[0]!.parsed;
    expect(m.subject).toBe('2 unread notifications');
    expect(m.text).toContain('- First: World');
    expect(m.text).toContain('- Second: World');
    expect(m.text).not.toContain('Third');
    expect(m.html).toContain('<strong>Second</strong>');
  });

  it('preference matrix end to end: in-app only, quiet hours, bypass by priority', async () => {
    // In-app only: stored and live as ever, nothing queued.
    await setPrefs('ida', {
      email: 'ida@example.org',
      channels: { push: false, email: false, webhook: false },
    });
    const quiet = await notify(t, 'ida', { title: 'Only in-app' });
    expect(await jobsOf(t, quiet)).toEqual([]);
    expect(
      (await call(t, 'GET', '/notifications', await t.token('ida'))).body.notifications,
    ).toHaveLength(1);
    // Quiet hours around now (UTC): held until they end; a critical one goes at once.
    const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    const end = Date.now() + 2 * 3_600_000;
    await setPrefs('quinn', {
      email: 'quinn@example.org',
      channels: { push: false, webhook: false },
      quietHours: { start: hhmm(Date.now() - 3_600_000), end: hhmm(end) },
    });
    const held = await notify(t, 'quinn', { title: 'Held' });
    const urgent = await notify(t, 'quinn', { title: 'Pager', priority: 'critical' });
    await waitFor(
      async () => (await jobsOf(t, urgent))[0]?.state === 'sent',
      10_000,
      'critical sent',
    );
    const [h] = await jobsOf(t, held);
    expect(h.state).toBe('pending');
    expect(Math.abs(Date.parse(h.notBefore) - end)).toBeLessThan(60_000);
    expect(mailTo('quinn@example.org').map((m) => m.parsed.subject)).toEqual(['Pager']);
  });

  it('checks preferences and who may set them', async () => {
    const token = await t.token('pat');
    for (const bad of [
      { timeZone: 'Mars/Olympus' },
      { email: 'not an address' },
      { quietHours: { start: '25:00', end: '07:00' } },
      { channels: { fax: true } },
      { channels: { inApp: false } },
      { digest: 'weekly' },
      { bypassPriority: 'urgent' },
    ]) {
      const r = await call(t, 'PUT', '/delivery/preferences', token, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.code).toBe('HERALD_ERR_BAD_REQUEST');
    }
    expect((await call(t, 'PUT', '/delivery/preferences?userId=ann', token, {})).status).toBe(403);
    const byAdmin = await call(t, 'PUT', '/delivery/preferences?userId=pat', 'key', {
      digest: 'daily',
    });
    expect(byAdmin.status).toBe(200);
    const mine = await call(t, 'GET', '/delivery/preferences', token);
    expect(mine.body).toMatchObject({ digest: 'daily', timeZone: 'UTC', emailEnabled: true });
  });

  it('counts sent, delivered and read per channel in the admin stats and /metrics', async () => {
    const stats = await call(t, 'GET', '/admin/delivery/stats', 'key');
    expect(stats.status).toBe(200);
    expect(stats.body.totals.email.sent).toBeGreaterThanOrEqual(5);
    expect(stats.body.totals.email.delivered).toBeGreaterThanOrEqual(4);
    expect(stats.body.totals.digest).toMatchObject({ sent: 1, delivered: 1 });
    expect(stats.body.totals.in_app.read).toBeGreaterThanOrEqual(2);
    expect(stats.body.meanTimeToReadMs['']).toBeGreaterThanOrEqual(0);
    expect(stats.body.jobs).toEqual(
      expect.arrayContaining([{ channel: 'email', state: 'skipped', count: 1 }]),
    );
    const metrics = await (
      await fetch(`${t.url}/metrics`, {
        headers: { 'x-herald-key': 'test-api-key-0123456789abcdef' },
      })
    ).text();
    expect(metrics).toMatch(
      /herald_delivery_events_total\{channel="email",category="ci",counter="delivered"\} 1/,
    );
    expect(metrics).toContain('herald_notification_time_to_read_seconds_count');
  });
});
