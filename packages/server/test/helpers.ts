import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger, type Logger } from '../src/logger.js';
import { createServer, type CreateServerOptions, type HeraldServer } from '../src/server.js';
import type { Store } from '../src/store/store.js';

export const API_KEY = 'test-api-key-0123456789abcdef';

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly server: HeraldServer;
  readonly config: Config;
  readonly dataDir: string;
  /** Token for a subscriber (user id, extra channel grants). */
  token(
    sub: string,
    opts?: { channels?: string[]; publish?: string[]; ttlSec?: number },
  ): Promise<string>;
  /** POST JSON with the test API key; returns status and parsed body. */
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * Starts a real Herald server on an ephemeral port with its own temporary data directory.
 * Pass `dataDir` to reuse a directory (restart tests) and `keepData` to keep it on close.
 * `storeIn` makes the event store on the data directory's database file (a store subclass
 * that counts or fails reads), where the server would make its own.
 */
export async function startServer(
  overrides: Partial<Config> = {},
  opts: CreateServerOptions & {
    keepData?: boolean;
    logger?: Logger;
    storeIn?: (file: string) => Store;
  } = {},
): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'herald-test-'));
  const config = loadConfig({
    env: {},
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      apiKeys: [API_KEY],
      // Tests close servers often; the drain window has its own tests.
      drainWindowMs: 0,
      ...overrides,
      dataDir,
    },
  });
  const store = opts.storeIn?.(join(dataDir, 'herald.db'));
  const server = await createServer(config, {
    ...opts,
    ...(store ? { store } : {}),
    logger: opts.logger ?? createLogger(config.logLevel),
  });
  const port = await server.listen();
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAlive: true });
  return {
    url,
    port,
    server,
    config,
    dataDir,
    token: (sub, o = {}) =>
      server.tokens.mint({
        sub,
        channels: o.channels ?? [],
        publish: o.publish ?? [],
        ttlSec: o.ttlSec ?? 3600,
      }),
    async post(path, body, headers = {}) {
      // Keep-alive connections from this server's own agent: cheap under load, and a restart
      // test's next server (same port) gets a fresh agent, never a socket of the old one.
      const payload = typeof body === 'string' ? body : JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const req = request(
          url + path,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY, ...headers },
          },
          (res) => readBody(res, (body) => resolve({ status: res.statusCode ?? 0, body })),
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
    async close() {
      agent.destroy();
      await server.close();
      if (!opts.keepData && overrides.dataDir === undefined)
        rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true (no fixed sleeps); fails after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads a response to its end and hands over its JSON, or its text when it is not JSON. */
export function readBody(res: IncomingMessage, done: (body: unknown) => void): void {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => (text += c));
  res.on('end', () => {
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    done(parsed);
  });
}

/** The built CLI, as `herald` runs it. */
export const HERALD_CLI = resolve(import.meta.dirname, '../dist/cli.js');

/**
 * Starts `herald serve` (the built CLI) as a real process on an ephemeral port of 127.0.0.1
 * and resolves once it listens; `out()` is everything it has printed so far.
 */
export async function spawnHerald(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; url: string; out: () => string }> {
  const child = spawn(
    process.execPath,
    [HERALD_CLI, 'serve', '--port', '0', '--host', '127.0.0.1', ...args],
    {
      // One process unless the test asks for workers (`--workers` beats the variable).
      env: { ...process.env, NODE_ENV: 'test', HERALD_WORKERS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor(
    () => /"port":(\d+)/.test(out) || child.exitCode !== null,
    20_000,
    'server to listen',
  );
  const m = /"port":(\d+)/.exec(out);
  if (!m) throw new Error(`server did not start: ${out}`);
  const port = Number(m[1]);
  return { child, port, url: `http://127.0.0.1:${port}`, out: () => out };
}

export interface Answer {
  status: number;
  body: any;
}

/** One HTTP call with a user's token, or the test API key (admin). */
export async function call(
  t: TestServer,
  method: string,
  path: string,
  /** A user's token (as text or as a signed-in user), or 'key' for the test API key. */
  auth: string | { token: string },
  body?: unknown,
): Promise<Answer> {
  const headers: Record<string, string> =
    auth === 'key'
      ? { 'x-herald-key': API_KEY }
      : { authorization: `Bearer ${typeof auth === 'string' ? auth : auth.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(t.url + path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
