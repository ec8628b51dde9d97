// Produces docs/images/ui.png: starts the built server in dev mode, opens the demo page in
// Chromium, connects, sends a few notifications from the page and takes a screenshot.
//
//   npm run build && node scripts/screenshot.mjs
//
// CHROMIUM_PATH overrides the browser (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/server/dist/cli.js');
const out = join(root, 'docs/images/ui.png');

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

async function sendFromPage(page, target, to, title, message) {
  await page.getByTestId(`target-${target}`).check();
  if (to !== undefined) await page.getByTestId('send-to').fill(to);
  await page.getByTestId('send-title').fill(title);
  await page.getByTestId('send-message').fill(message);
  await page.getByTestId('send').click();
  await page.getByTestId('toast').filter({ hasText: title }).waitFor();
}

if (!existsSync(cli)) {
  console.error('packages/server/dist/cli.js is missing: run `npm run build` first.');
  process.exit(1);
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'herald-shot-'));
const server = spawn(
  process.execPath,
  [cli, 'serve', '--dev', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NODE_ENV: '' } },
);
let browser;
try {
  await waitUntilUp(url, server);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  await context.grantPermissions(['notifications'], { origin: url });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(url + '/');
  await page.getByTestId('user-id').fill('alice');
  await page.getByTestId('connect').click();
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();

  await sendFromPage(
    page,
    'everyone',
    undefined,
    'Maintenance tonight',
    'Read-only 22:00–22:15 UTC.',
  );
  await sendFromPage(page, 'user', 'alice', 'Deploy finished', 'api v2.4.1 is live in eu-west.');
  await sendFromPage(
    page,
    'users',
    'alice, bob',
    'Review requested',
    'Bob asked you to review “Retry on 503”.',
  );
  await page.getByTestId('send-status').filter({ hasText: 'Sent' }).waitFor();
  await page.mouse.move(0, 0);

  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, animations: 'disabled' });
  console.log(`wrote ${out}`);
} finally {
  await browser?.close();
  if (server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
}
