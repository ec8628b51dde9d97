// Writes docs/images/<view>-desktop.png and <view>-phone.png for every view of the user app
// (and the admin views, scripts/screenshot-admin.mjs): starts the built server in dev mode
// with its own data directory, fills it with a little realistic data through the HTTP API,
// signs in in Chromium and takes the pictures.
//
//   npm run screenshots          (builds first)
//
// CHROMIUM_PATH overrides the browser (default /usr/bin/chromium); WEB_DIR serves another
// build of the app.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { adminScreenshots, adminServerArgs } from './screenshot-admin.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/server/dist/cli.js');
const outDir = join(root, 'docs/images');

const SIZES = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 375, height: 740 },
};

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function waitUntilUp(url, child, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    try {
      if ((await fetch(url + '/healthz')).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not start in time');
}

async function devToken(url, userId) {
  const res = await fetch(`${url}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  return (await res.json()).token;
}

function poster(url, token) {
  return async (path, body) => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
}

/** A little of everything, as a real team's day would leave it. */
async function seed(url) {
  const post = poster(url, await devToken(url, 'ops-bot'));
  const inbox = [
    [
      'Payment failed for invoice #2231',
      'The card on file was declined. Update it to keep the Pro plan.',
      'billing',
      'high',
    ],
    ['Build #1289 passed', 'main is green: 412 tests in 3 min 12 s.', 'ci', 'normal'],
    [
      'Bob mentioned you',
      '“@alice can you review Retry on 503 before the release?”',
      'social',
      'normal',
    ],
    [
      'New sign-in from Firefox on Linux',
      'Berlin, Germany. If this was not you, reset your password.',
      'security',
      'critical',
    ],
    [
      'Deploy of api v2.4.1 finished',
      'Rolled out to eu-west in 4 minutes, no errors.',
      'ci',
      'normal',
    ],
    ['Weekly usage report', '1.2 M notifications delivered, p99 latency 41 ms.', 'system', 'low'],
  ];
  for (const [title, message, category, priority] of inbox) {
    await post('/notify/alice', { title, message, category, priority });
  }
  const alerts = [
    ['CPU 97% on db-1', 'critical', 'cpu-high'],
    ['Disk 91% on web-3', 'high', 'disk-full'],
    ['p99 latency 870 ms on api', 'medium', 'latency-p99'],
    ['5xx rate 2.1% on checkout', 'high', 'error-rate'],
    ['Certificate expires in 9 days', 'low', 'cert-expiry'],
    ['Replica lag 12 s on db-2', 'medium', 'replica-lag'],
    ['Queue depth 48,000 on mailer', 'high', 'queue-depth'],
    ['Login failures 40/min from one address', 'critical', 'auth-brute'],
    ['Memory 88% on worker-7', 'medium', 'memory-high'],
    ['Backup finished late (2 h 10 min)', 'info', 'backup-slow'],
  ];
  for (const [title, severity, rule] of alerts) {
    await post('/notifications', {
      channel: 'alerts',
      title,
      message: `Rule ${rule} fired`,
      severity,
      category: rule,
      data: { rule, host: title.split(' on ')[1] ?? null },
    });
  }
  const votes = [
    ...Array(7).fill('Server-Sent Events'),
    ...Array(4).fill('WebSockets'),
    'Long polling',
  ];
  for (const option of votes) {
    await post('/notifications', {
      channel: 'votes',
      type: 'vote_update',
      title: 'voter',
      message: option,
      category: option,
    });
  }
  const chat = [
    ['bob', 'Morning! Is the deploy going out today?'],
    ['alice', 'Yes, after the review of Retry on 503.'],
    ['carol', 'I can take the review now.'],
    ['bob', 'Thanks both, I will watch the event browser.'],
  ];
  for (const [from, message] of chat) {
    await poster(url, await devToken(url, from))('/notifications', {
      channel: 'chat:lobby',
      type: 'chat_message',
      title: from,
      message,
      category: 'chat',
    });
  }
}

async function shoot(page, name, size) {
  await page.mouse.move(0, 0);
  const path = join(outDir, `${name}-${size}.png`);
  await page.screenshot({ path, animations: 'disabled' });
  console.log(`wrote ${path}`);
}

async function views(browser, url, size, colorScheme = 'light', only = null) {
  const context = await browser.newContext({ viewport: SIZES[size], colorScheme });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const suffix = colorScheme === 'dark' ? `${size}-dark` : size;
  await page.goto(url + '/app/');
  await page.getByLabel('User id').waitFor();
  if (!only) await shoot(page, 'signin', suffix);
  await page.getByLabel('User id').fill('alice');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('[data-testid=connection-status][data-state=connected]').waitFor();
  await page.getByTestId('notification').nth(5).waitFor();
  await shoot(page, 'inbox', suffix);
  if (only) return context.close();

  await page.goto(url + '/app/alerts');
  await page.getByTestId('alert-row').nth(5).waitFor();
  await page.getByTestId('alert-row').nth(2).click();
  await page.evaluate(() => window.scrollTo(0, 0));
  await shoot(page, 'alerts', suffix);

  await page.goto(url + '/app/demos/votes');
  await page.getByTestId('vote-total').filter({ hasText: '12 votes' }).waitFor();
  await shoot(page, 'votes', suffix);

  await page.goto(url + '/app/demos/chat');
  await page.getByTestId('chat-message').nth(3).waitFor();
  await shoot(page, 'chat', suffix);

  await page.goto(url + '/app/demos/ai');
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByTestId('ai-status').filter({ hasText: 'Answering' }).waitFor();
  await page.waitForFunction(
    () => (document.querySelector('[data-testid=ai-answer]')?.textContent ?? '').length > 260,
  );
  await shoot(page, 'ai', suffix);
  await page.getByRole('button', { name: 'Stop' }).click();

  await page.goto(url + '/app/settings');
  await page.getByRole('heading', { name: 'Inbox preferences' }).waitFor();
  await page.getByRole('button', { name: 'Save preferences' }).waitFor();
  await shoot(page, 'settings', suffix);
  await context.close();
}

if (!existsSync(cli)) {
  console.error('packages/server/dist/cli.js is missing: run `npm run build` first.');
  process.exit(1);
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'herald-shot-'));
const webArgs = process.env.WEB_DIR ? ['--web-dir', process.env.WEB_DIR] : [];
const server = spawn(
  process.execPath,
  [
    cli,
    'serve',
    '--dev',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--log-level',
    'warn',
    ...adminServerArgs,
    ...webArgs,
  ],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NODE_ENV: '' } },
);
let browser;
try {
  await waitUntilUp(url, server);
  await seed(url);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  mkdirSync(outDir, { recursive: true });
  await views(browser, url, 'desktop');
  await views(browser, url, 'phone');
  await views(browser, url, 'desktop', 'dark', 'inbox');
  await adminScreenshots({ browser, url, outDir });
} finally {
  await browser?.close();
  if (server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
}
