import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { PAGE, browserBundle, launch } from './browser-harness.js';

// The polling fallback through a real nginx (Debian's) that refuses the stream route, and
// the way back to streaming once the block is lifted. nginx serves the page and the bundle
// too, so the client talks to one origin, as behind a company proxy.
const NGINX = process.env['NGINX_PATH'] ?? '/usr/sbin/nginx';
let srv: TestServer;
let browser: Browser;
let nginx: ChildProcess | undefined;
let dir = '';
let port = 0;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise((r) => s.close(r));
  return typeof a === 'object' && a ? a.port : 0;
}

function writeConf(block: boolean): void {
  const upstream = `127.0.0.1:${srv.port}`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  types { text/html html; text/javascript js; }
  server {
    listen 127.0.0.1:${port};
    location /app/ { alias ${dir}/www/; }
    location / {
      ${block ? 'if ($http_accept ~* "text/event-stream") { return 403; }' : ''}
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`,
  );
}

beforeAll(async () => {
  srv = await startServer({ retryMs: 100, pollWaitMs: 2000 });
  dir = mkdtempSync(join(tmpdir(), 'herald-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'index.html'), PAGE);
  writeFileSync(join(dir, 'www', 'herald.js'), await browserBundle());
  // nginx's workers run as an unprivileged user when the tests run as root: let them read.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'www'), 0o755);
  port = await freePort();
  writeConf(true);
  nginx = spawn(NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;'], {
    stdio: 'inherit',
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok === true,
    10_000,
    'nginx',
  );
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGTERM');
    await exited;
  }
  await srv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('polling fallback through nginx', () => {
  it('polls while nginx refuses text/event-stream, streams again once it allows it', async () => {
    const page: Page = await browser.newPage();
    page.on('pageerror', (e) => console.log('page error:', e.message));
    await page.goto(`http://127.0.0.1:${port}/app/index.html`);
    await page.waitForFunction(() => (window as any).ready === true);
    const token = await srv.token('pol');
    await page.evaluate((token) => {
      const w = window as any;
      w.got = [];
      w.transports = [];
      w.h = new w.Herald({
        channels: ['user:pol'],
        getToken: () => token,
        pollAfterFailures: 2,
        streamRetryMs: 1000,
        minReconnectDelayMs: 50,
        maxReconnectDelayMs: 200,
      });
      w.h.on('event', (e: any) => w.got.push(e.data.n));
      w.h.on('state', (s: any) => w.transports.push(s.transport));
    }, token);
    const view = () =>
      page.evaluate(() => {
        const w = window as any;
        return { got: w.got as number[], transport: w.h.transport, state: w.h.state };
      });
    await waitFor(
      async () => {
        const v = await view();
        return v.transport === 'poll' && v.state === 'connected';
      },
      15_000,
      'polling',
    );

    let n = 0;
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const r = await srv.post('/publish', { channel: 'user:pol', data: { n: n++ } });
        expect(r.status).toBe(202);
      }
    };
    await publish(10);
    await waitFor(async () => (await view()).got.length >= 10, 15_000, 'events while polling');
    expect((await view()).transport).toBe('poll');

    // Lift the block: nginx reloads its configuration on SIGHUP.
    writeConf(false);
    nginx!.kill('SIGHUP');
    await waitFor(
      async () => {
        const v = await view();
        return v.transport === 'fetch' && v.state === 'connected';
      },
      15_000,
      'streaming again',
    );
    await publish(10);
    await waitFor(async () => (await view()).got.length >= 20, 15_000, 'events after');
    expect((await view()).got).toEqual([...Array(20).keys()]);
    await page.close();
  });
});
