import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** The client's browser bundle, built from source as an app's bundler would. */
export async function browserBundle(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  return out.outputFiles[0]!.text;
}

/** The test page: loads the bundle and exposes `Herald` on window. */
export const PAGE = `<!doctype html><meta charset="utf-8"><title>herald client test</title>
<script type="module">import { Herald } from './herald.js'; window.Herald = Herald; window.ready = true;</script>`;

/** A tiny static server for the page and the bundle (another origin than Herald's). */
export async function staticServer(
  bundle: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/herald.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return {
    url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A framework's test page (packages/vue/test/page, packages/react/test/page) bundled with
 * esbuild into a new directory with an index.html, for a test server's `webDir`. The client
 * comes from source, so the page never runs a stale build. Remove the directory after.
 */
export async function bundleTestPage(
  entry: string,
  define: Record<string, string> = {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-page-'));
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(dir, 'main.js'),
    alias: { '@herald/client': fileURLToPath(new URL('../src', import.meta.url)) },
    jsx: 'automatic',
    // Development builds: the frameworks' warnings reach the console, and the tests fail on them.
    define: { 'process.env.NODE_ENV': '"development"', ...define },
    logLevel: 'silent',
  });
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>test page</title><link rel="icon" href="data:,"><script type="module" src="/main.js"></script>',
  );
  return dir;
}

/** Every page error, console error and warning of a page, for `expect(problems).toEqual([])`. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(msg.text());
  });
  return problems;
}
