/**
 * A Herald cluster for tests, made of real processes: several `herald serve` nodes, Debian's
 * nginx in front of them (configured from deploy/nginx/herald.conf), Redis and PostgreSQL
 * (the machine's, or private servers the test may stop and start), plus the clients that
 * talk to it: publishers that record what was acknowledged, and subscribers (the
 * `eventsource` package and raw HTTP) that resume through nginx with their cursor.
 *
 * Every process, temporary directory and schema made here is registered and removed by
 * `cleanupAll` (call it in afterAll), whatever the test did.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventSource } from 'eventsource';
import { SignJWT } from 'jose';
import pg from 'pg';
import { readBody, waitFor } from './helpers.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = resolve(ROOT, 'packages/server/dist/cli.js');
export const NGINX_TEMPLATE = resolve(ROOT, 'deploy/nginx/herald.conf');
export const COMPOSE_FILE = resolve(ROOT, 'deploy/compose.yaml');

export const PG_URL =
  process.env['HERALD_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['HERALD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const API_KEY = 'cluster-test-publisher-key-0123456789';
const JWT_SECRET = randomBytes(32).toString('hex');

// ---------------------------------------------------------------------------------------
// Cleanup registry

const cleanups: (() => Promise<void> | void)[] = [];

/** Registers a cleanup step; `cleanupAll` runs them newest first. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** Stops every process, drops every schema and removes every temporary directory made here. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch (err) {
      process.stderr.write(`cluster cleanup: ${String(err)}\n`);
    }
  }
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------
// Processes and ports

/** A child process whose output is kept (the last 256 KiB) for failure messages. */
export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
  private out = '';

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const keep = (b: Buffer) => {
      this.out += b.toString();
      if (this.out.length > 262_144) this.out = this.out.slice(-131_072);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(code);
      });
      this.child.once('error', (err) => {
        this.out += `\nspawn error: ${err.message}`;
        this.exitCode = -1;
        resolve(-1);
      });
    });
    onCleanup(async () => {
      await this.stop('SIGKILL', 5000);
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  get output(): string {
    return this.out;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** Sends `sig` and waits for the exit; SIGKILL after `timeoutMs`. Resolves with the code. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill(sig);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** A TCP port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Finds a server binary. A missing one fails the test with a clear message: the cluster
 * tests never skip (CI installs nginx, Redis and PostgreSQL; see .ci/run).
 */
export function requireBinary(name: string, candidates: readonly string[] = []): string {
  for (const c of candidates) if (existsSync(c)) return c;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} is required by the cluster tests and was not found (see .ci/run)`);
}

/** The directory of PostgreSQL's server binaries (initdb, postgres), newest version first. */
function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(base, versions[0], 'bin');
  throw new Error('PostgreSQL server binaries (initdb, postgres) are required (see .ci/run)');
}

// ---------------------------------------------------------------------------------------
// Redis and PostgreSQL

/** A private redis-server on its own port: the test can stop it and start it again. */
export class PrivateRedis {
  private proc: Proc | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  static async start(): Promise<PrivateRedis> {
    const bin = requireBinary('redis-server');
    const r = new PrivateRedis(await freePort(), tempDir('herald-redis-'), bin);
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = new Proc('redis', this.bin, [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
    ]);
    this.proc = proc;
    await waitFor(
      async () => !proc.running || (await tcpAnswers(this.port, 'PING\r\n', '+PONG')),
      10_000,
      'redis-server to answer',
    );
    if (!proc.running) throw new Error(`redis-server did not start:\n${proc.output}`);
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM');
  }
}

/** Sends `send` on a fresh TCP connection; true when the answer starts with `expect`. */
function tcpAnswers(port: number, send: string, expect: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    let got = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.on('data', (b: Buffer) => {
      got += b.toString();
      if (got.length >= expect.length) done(got.startsWith(expect));
    });
    sock.connect(port, '127.0.0.1', () => sock.write(send));
  });
}

/**
 * A private PostgreSQL cluster (initdb in a temporary directory, its own port and socket
 * directory) that a test may stop and start: a real database outage that disturbs no other
 * test. As root it runs as the `postgres` user (initdb refuses root).
 */
export class PrivatePostgres {
  private proc: Proc | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
    private readonly as: { uid?: number; gid?: number },
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    const dir = tempDir('herald-pg-');
    const as: { uid?: number; gid?: number } = {};
    if (process.getuid?.() === 0) {
      as.uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      as.gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir, as.uid, as.gid);
    }
    execFileSync(
      join(bin, 'initdb'),
      ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-locale', '-E', 'UTF8'],
      { ...as, stdio: 'pipe', env: { ...process.env, HOME: dir } },
    );
    const p = new PrivatePostgres(await freePort(), dir, bin, as);
    await p.start();
    return p;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const proc = new Proc(
      'postgres',
      join(this.bin, 'postgres'),
      [
        '-D',
        join(this.dir, 'data'),
        '-p',
        String(this.port),
        '-k',
        this.dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'max_connections=60',
      ],
      { ...this.as, env: { ...process.env, HOME: this.dir } },
    );
    this.proc = proc;
    await waitFor(
      async () => !proc.running || (await pgAnswers(this.url)),
      20_000,
      'private PostgreSQL to accept connections',
    );
    if (!proc.running) throw new Error(`postgres did not start:\n${proc.output}`);
  }

  /** Fast shutdown (SIGINT): sessions are cut, committed data is kept. */
  async stop(): Promise<void> {
    await this.proc?.stop('SIGINT', 20_000);
  }
}

async function pgAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A schema name of this run's own; dropped by `cleanupAll` (unless the database is private). */
export function uniqueSchema(url: string, drop = true): string {
  const schema = `herald_cluster_${randomBytes(5).toString('hex')}`;
  if (!drop) return schema;
  onCleanup(async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
  return schema;
}

export interface StoredRow {
  seq: number;
  key: string;
  /** The event's id. */
  id: string;
}

/** The stored events of `channels`, in sequence order, read straight from PostgreSQL. */
/**
 * The channel and key an event of the tests carries: at the top of its data (`/publish`), or
 * in the data of the notification it announces (`/notifications`); undefined for others
 * (a feed's `summary`).
 */
export function tickOf(data: string): { c: string; k: string } | undefined {
  const d = JSON.parse(data) as { c?: string; k?: string; data?: { c?: string; k?: string } };
  const t = d.k !== undefined ? d : d.data;
  return t?.c !== undefined && t.k !== undefined ? { c: t.c, k: t.k } : undefined;
}

export async function storedEvents(
  url: string,
  schema: string,
  channels: readonly string[],
): Promise<Map<string, StoredRow[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ channel: string; seq: string; id: string; data: string }>(
      `SELECT channel, seq, id, data FROM ${pg.escapeIdentifier(schema)}.events
       WHERE channel = ANY($1::text[]) ORDER BY channel, seq`,
      [channels],
    );
    const out = new Map<string, StoredRow[]>(channels.map((c) => [c, []]));
    for (const r of rows) {
      const tick = tickOf(r.data);
      if (tick) out.get(r.channel)?.push({ seq: Number(r.seq), key: tick.k, id: r.id });
    }
    return out;
  } finally {
    await client.end();
  }
}

/** The key of every inbox row of these owners, one entry per row (a key twice: stored twice). */
export async function storedNotificationKeys(
  url: string,
  schema: string,
  owners: readonly string[],
): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ data: string }>(
      `SELECT data FROM ${pg.escapeIdentifier(schema)}.inbox_notifications
       WHERE owner = ANY($1::text[])`,
      [owners],
    );
    return rows.map((r) => (JSON.parse(r.data) as { k: string }).k);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------
// nginx

/**
 * Renders deploy/nginx/herald.conf for the test: the same upstream parameters and location
 * settings, with the nodes' addresses and the listen address replaced. Throws when the
 * template no longer has the shape this relies on, so the two cannot drift apart silently.
 */
export function renderNginxSite(template: string, listen: string, nodes: readonly string[]) {
  const upstream = /upstream herald \{[\s\S]*?\n\}/.exec(template);
  if (!upstream) throw new Error('deploy/nginx/herald.conf: no "upstream herald { ... }" block');
  const server = /^(\s*)server \S+:\d+( [^;]*)?;$/m.exec(upstream[0]);
  if (!server) throw new Error('deploy/nginx/herald.conf: the upstream lists no node');
  const [, indent = '    ', params = ''] = server;
  const lines = nodes.map((n) => `${indent}server ${n}${params};`).join('\n');
  let block = upstream[0].replace(/^\s*server \S+:\d+( [^;]*)?;\n/gm, '');
  block = block.replace(/\n\}$/, `\n${lines}\n}`);
  if (!/^\s*listen 80;$/m.test(template)) {
    throw new Error('deploy/nginx/herald.conf: expected "listen 80;"');
  }
  return template.replace(upstream[0], block).replace(/^(\s*)listen 80;$/m, `$1listen ${listen};`);
}

export class Nginx {
  private constructor(
    readonly port: number,
    readonly proc: Proc,
    private readonly dir: string,
  ) {}

  /** `streamReadTimeoutS` shortens the read timeout of /events (a test of idle streams). */
  static async start(
    nodePorts: readonly number[],
    options: { streamReadTimeoutS?: number } = {},
  ): Promise<Nginx> {
    const bin = requireBinary('nginx', ['/usr/sbin/nginx']);
    const dir = tempDir('herald-nginx-');
    const port = await freePort();
    let site = renderNginxSite(
      readFileSync(NGINX_TEMPLATE, 'utf8'),
      `127.0.0.1:${port}`,
      nodePorts.map((p) => `127.0.0.1:${p}`),
    );
    if (options.streamReadTimeoutS !== undefined) {
      const events = /location \/events \{[\s\S]*?proxy_read_timeout \d+s;/.exec(site);
      if (!events) throw new Error('deploy/nginx/herald.conf: /events has no proxy_read_timeout');
      site = site.replace(
        events[0],
        events[0].replace(
          /proxy_read_timeout \d+s;$/,
          `proxy_read_timeout ${options.streamReadTimeoutS}s;`,
        ),
      );
    }
    writeFileSync(join(dir, 'herald.conf'), site);
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      mkdirSync(join(dir, t));
    }
    // One process (no master, no daemon): the test owns it like any child process.
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/herald.conf;
}
`,
    );
    const proc = new Proc('nginx', bin, [
      '-p',
      dir + '/',
      '-c',
      join(dir, 'nginx.conf'),
      '-e',
      join(dir, 'error.log'),
    ]);
    await waitFor(
      async () =>
        !proc.running || (await tcpAnswers(port, 'GET /healthz HTTP/1.0\r\n\r\n', 'HTTP')),
      10_000,
      'nginx to listen',
    );
    if (!proc.running) throw new Error(`nginx did not start:\n${proc.output}\n${this.log(dir)}`);
    return new Nginx(port, proc, dir);
  }

  private static log(dir: string): string {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get errorLog(): string {
    return Nginx.log(this.dir);
  }
}

// ---------------------------------------------------------------------------------------
// Herald nodes

export interface ClusterOptions {
  readonly nodes?: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** A private database, removed whole: no schema to drop. */
  readonly privateDatabase?: boolean;
  /** Extra HERALD_* settings for every node. */
  readonly env?: Record<string, string>;
  /** Extra node.js flags for every node (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Settings of one node only, by index (e.g. its own Redis address behind a proxy). */
  readonly nodeEnv?: (index: number) => Record<string, string>;
  /** Read timeout of streams in nginx, seconds (the shipped config's otherwise). */
  readonly streamReadTimeoutS?: number;
}

/**
 * The environment of a node. The keys that are not test plumbing (port, data directory,
 * log level) are exactly the ones deploy/compose.yaml sets; a test checks it.
 */
export function nodeEnv(
  c: { databaseUrl: string; schema: string; redisUrl: string; prefix: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    HERALD_DATABASE_URL: c.databaseUrl,
    HERALD_DATABASE_SCHEMA: c.schema,
    HERALD_REDIS_URL: c.redisUrl,
    HERALD_REDIS_PREFIX: c.prefix,
    HERALD_JWT_SECRET: JWT_SECRET,
    HERALD_API_KEYS: API_KEY,
    HERALD_TRUST_PROXY: 'true',
    HERALD_HEARTBEAT_MS: '15000',
    HERALD_RETRY_MS: '300',
    HERALD_DRAIN_WINDOW_MS: '2000',
    HERALD_SHUTDOWN_GRACE_MS: '15000',
    ...extra,
  };
}

/** Node settings that only the test harness sets (where to listen, where to log). */
export const TEST_ONLY_ENV = ['HERALD_PORT', 'HERALD_HOST', 'HERALD_DATA_DIR', 'HERALD_LOG_LEVEL'];

export class HeraldNode {
  proc: Proc | undefined;
  private readonly dataDir: string;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly nodeArgs: readonly string[] = [],
    /** Where the node keeps its files; a new temporary directory by default. */
    dataDir?: string,
  ) {
    this.dataDir = dataDir ?? tempDir(`herald-${name}-`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /**
   * Starts `herald serve` and resolves once /readyz answers 200, within `readyMs` (longer in
   * the soak, where a restarted node takes back a share of 2,000 streams on a busy machine).
   */
  async start(readyMs = 20_000): Promise<void> {
    const proc = new Proc(this.name, process.execPath, [...this.nodeArgs, CLI, 'serve'], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        // Each node one process: the harness's crashes and restarts are per process.
        HERALD_WORKERS: '1',
        ...this.env,
        HERALD_PORT: String(this.port),
        HERALD_HOST: '127.0.0.1',
        HERALD_DATA_DIR: this.dataDir,
        HERALD_LOG_LEVEL: 'warn',
      },
    });
    this.proc = proc;
    await waitFor(
      async () => !proc.running || (await httpGet(`${this.url}/readyz`)).status === 200,
      readyMs,
      `${this.name} to be ready`,
    );
    if (!proc.running) throw new Error(`${this.name} did not start:\n${proc.output}`);
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    return (await this.proc?.stop(sig, 30_000)) ?? null;
  }

  /** Live streams on this node, from /healthz. */
  async connections(): Promise<number> {
    const r = await httpGet(`${this.url}/healthz`);
    return r.status === 200 ? (JSON.parse(r.body) as { connections: number }).connections : -1;
  }
}

export class Cluster {
  readonly schema: string;
  readonly prefix: string;

  private constructor(
    readonly nodes: HeraldNode[],
    readonly nginx: Nginx,
    readonly databaseUrl: string,
    schema: string,
    prefix: string,
  ) {
    this.schema = schema;
    this.prefix = prefix;
  }

  /** Starts the nodes (in parallel) and nginx in front of them. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const schema = uniqueSchema(options.databaseUrl, !options.privateDatabase);
    const prefix = `herald-test-${randomBytes(4).toString('hex')}:`;
    const env = nodeEnv(
      { databaseUrl: options.databaseUrl, redisUrl: options.redisUrl, schema, prefix },
      options.env,
    );
    const nodes: HeraldNode[] = [];
    for (let i = 1; i <= (options.nodes ?? 3); i++) {
      const own = { ...env, ...options.nodeEnv?.(i - 1) };
      nodes.push(new HeraldNode(`herald${i}`, await freePort(), own, options.nodeArgs));
    }
    // The first node runs the migrations; the others find them done.
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((n) => n.start()));
    const nginx = await Nginx.start(
      nodes.map((n) => n.port),
      options.streamReadTimeoutS === undefined
        ? {}
        : { streamReadTimeoutS: options.streamReadTimeoutS },
    );
    return new Cluster(nodes, nginx, options.databaseUrl, schema, prefix);
  }

  get url(): string {
    return this.nginx.url;
  }

  /** Starts again every node that is not running (after a test that stopped one failed). */
  async restartStopped(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => !n.running).map((n) => n.start()));
  }

  node(i: number): HeraldNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  /** What every process printed: attached to failure messages. */
  logs(): string {
    return [
      ...this.nodes.map((n) => `--- ${n.name}\n${n.proc?.output.slice(-4000) ?? ''}`),
      `--- nginx error.log\n${this.nginx.errorLog.slice(-4000)}`,
    ].join('\n');
  }
}

/** A subscriber token for `sub`, granted every channel under `grant` (e.g. "t1:*"). */
export function token(sub: string, grants: readonly string[]): Promise<string> {
  return new SignJWT({ channels: [...grants] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

// ---------------------------------------------------------------------------------------
// HTTP helpers

export async function httpGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

export function postJson(
  url: string,
  body: unknown,
  agent: Agent,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; error?: string }> {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        timeout: 15_000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-herald-key': API_KEY,
          ...headers,
        },
      },
      (res) => {
        readBody(res, (parsed) => resolve({ status: res.statusCode ?? 0, body: parsed }));
        res.on('error', (err) => resolve({ status: 0, body: undefined, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: undefined, error: err.message }));
    req.end(payload);
  });
}

// ---------------------------------------------------------------------------------------
// Publishers

/** Seeded PRNG, so a failing run can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Publishes durable `tick` events `{ c: channel, k: key }` and records the outcome of each:
 * acknowledged (202, with its sequence), refused (an error answer that says nothing was
 * stored, by code), or unknown (the connection failed, or a proxy error: the event may or may
 * not be stored). An event is retried until it is acknowledged. With `idempotent`, the key
 * goes as Idempotency-Key, so a retry after an unknown outcome never stores it twice.
 */
export class Publisher {
  readonly acked = new Map<string, { seq: number; key: string; channel: string; id?: string }>();
  readonly refused = new Map<string, number>();
  /** Keys with an attempt whose outcome is unknown (it may have been stored). */
  readonly unknown = new Set<string>();
  /** Longest time a refused attempt took to be answered, ms. */
  slowestRefusal = 0;
  /** Events this publisher set out to publish (each counted once, however often retried). */
  sent = 0;
  /** How long each acknowledged attempt took to be answered, ms, in order. */
  readonly latencies: number[] = [];
  /**
   * Keys acknowledged after an attempt whose outcome was unknown: when that first cut attempt
   * was answered (502, connection error, 409) and when the retry was acknowledged (ms since
   * the epoch).
   */
  readonly retried = new Map<string, { cutAt: number; ackedAt: number }>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private turn = 0;
  private aborted = false;

  constructor(
    readonly name: string,
    /** Where to publish; on a failed attempt the next target is used. */
    private readonly targets: readonly string[],
    readonly idempotent = true,
    /**
     * How: `POST /publish`, or `POST /notifications` to the channel's feed (a notification
     * with event type `tick`, stored with its inbox row).
     */
    readonly route: 'publish' | 'notifications' = 'publish',
  ) {
    onCleanup(() => this.abort());
  }

  /** Stops publishing: what is in flight finishes, nothing is retried or started. */
  abort(): void {
    this.aborted = true;
    this.agent.destroy();
  }

  get ackedCount(): number {
    return this.acked.size;
  }

  get refusedCount(): number {
    let n = 0;
    for (const v of this.refused.values()) n += v;
    return n;
  }

  /**
   * Publishes `count` events over `channels` with `concurrency` requests in flight, or until
   * `until()` turns true.
   */
  async run(
    count: number,
    channels: readonly string[],
    opts: { seed: number; concurrency?: number; delayMs?: number; until?: () => boolean },
  ): Promise<void> {
    const random = rng(opts.seed);
    const until = () => this.aborted || (opts.until?.() ?? false);
    let next = 0;
    const worker = async () => {
      while (next < count && !until()) {
        const i = next++;
        const channel = channels[Math.floor(random() * channels.length)]!;
        await this.publishOne(channel, `${this.name}-${i}`, until);
        if (opts.delayMs) await pause(opts.delayMs);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  }

  /** Publishes one event, retrying until it is acknowledged or `abandon()` turns true. */
  async publishOne(channel: string, key: string, abandon = () => false): Promise<void> {
    this.sent++;
    let cutAt: number | undefined;
    for (let attempt = 0; !(attempt > 0 && (abandon() || this.aborted)); attempt++) {
      if (attempt > 2000) throw new Error(`${this.name}: ${key} was never acknowledged`);
      const target = this.targets[this.turn % this.targets.length]!;
      const t0 = Date.now();
      const data = { c: channel, k: key };
      const r = await postJson(
        `${target}/${this.route}`,
        this.route === 'publish'
          ? { channel, type: 'tick', data }
          : { channel, type: 'tick', title: key, message: key, data },
        this.agent,
        this.idempotent ? { 'idempotency-key': key } : {},
      );
      if (r.status === 202) {
        const seq = r.body?.events?.[0]?.seq;
        if (typeof seq !== 'number') throw new Error(`202 without a sequence: ${r.body}`);
        const id: unknown = r.body?.events?.[0]?.id;
        this.acked.set(key, { seq, key, channel, ...(typeof id === 'string' ? { id } : {}) });
        this.latencies.push(Date.now() - t0);
        if (cutAt !== undefined) this.retried.set(key, { cutAt, ackedAt: Date.now() });
        return;
      }
      const code: unknown = r.body?.error?.code;
      if (r.status === 503 && typeof code === 'string') {
        // Herald's own answer: nothing was stored.
        this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
        this.slowestRefusal = Math.max(this.slowestRefusal, Date.now() - t0);
      } else {
        // 409: the same key is still being published by an attempt whose answer was lost.
        if (r.status >= 400 && r.status < 500 && r.status !== 409) {
          throw new Error(
            `${this.name}: publish refused with ${r.status} ${JSON.stringify(r.body)}`,
          );
        }
        this.unknown.add(key);
        cutAt ??= Date.now();
      }
      this.turn++;
      await pause(20 + Math.min(attempt, 10) * 20);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Subscribers

export interface Subscriber {
  readonly name: string;
  readonly channels: readonly string[];
  /** Keys received per channel, in arrival order. */
  readonly got: Map<string, string[]>;
  /** The SSE ids of those events (the cursors), in the same order. */
  readonly ids: Map<string, string[]>;
  /** Streams opened (each `connected` event). */
  connects: number;
  /** Times of the `shutdown` events received. */
  readonly shutdowns: number[];
  /** Stream answers other than 200 (e.g. 503 during an outage), by status. */
  readonly refusals: Map<number, number>;
  resets: number;
  /** Heartbeat comments received (raw subscribers only). */
  heartbeats: number;
  readonly connected: boolean;
  /** Drops the stream from the client side and reconnects after `delayMs` with the cursor. */
  drop(delayMs: number): void;
  close(): void;
}

abstract class BaseSubscriber {
  readonly got = new Map<string, string[]>();
  readonly ids = new Map<string, string[]>();
  connects = 0;
  readonly shutdowns: number[] = [];
  readonly refusals = new Map<number, number>();
  resets = 0;
  heartbeats = 0;
  lastId: string | undefined;
  closed = false;

  constructor(
    readonly name: string,
    readonly channels: readonly string[],
    protected readonly base: string,
    protected readonly token: string,
  ) {
    for (const c of channels) {
      this.got.set(c, []);
      this.ids.set(c, []);
    }
    onCleanup(() => this.close());
  }

  protected onEvent(type: string, data: string, id: string | undefined): void {
    if (id !== undefined) this.lastId = id;
    if (type === 'tick') {
      const d = tickOf(data);
      if (!d) throw new Error(`${this.name} got a tick without a key: ${data}`);
      const list = this.got.get(d.c);
      if (!list) throw new Error(`${this.name} got an event of ${d.c}, not one of its channels`);
      list.push(d.k);
      this.ids.get(d.c)?.push(id ?? '');
    } else if (type === 'connected') this.connects++;
    else if (type === 'shutdown') this.shutdowns.push(Date.now());
    else if (type === 'reset') this.resets++;
  }

  protected refused(status: number): void {
    this.refusals.set(status, (this.refusals.get(status) ?? 0) + 1);
  }

  abstract close(): void;
}

/** The `eventsource` npm client through nginx; it reconnects by itself on a stream's end. */
export class EsSubscriber extends BaseSubscriber implements Subscriber {
  private es: EventSource | undefined;
  private timer: NodeJS.Timeout | undefined;

  open(): this {
    if (this.closed) return this;
    const q = new URLSearchParams({ channels: this.channels.join(','), token: this.token });
    if (this.lastId) q.set('lastEventId', this.lastId);
    const es = new EventSource(`${this.base}/events?${q.toString()}`);
    const listen = (type: string) =>
      es.addEventListener(type, (e) => this.onEvent(type, e.data, e.lastEventId || undefined));
    for (const t of ['tick', 'connected', 'shutdown', 'reset', 'stream-error']) listen(t);
    es.onerror = (e: Event & { code?: number }) => {
      // A non-200 answer (503 while a backend is down, 502 from nginx) ends EventSource for
      // good; an application reopens it after a pause, with its cursor, as this does.
      if (es.readyState === EventSource.CLOSED && !this.closed && this.es === es) {
        this.refused(e.code ?? 0);
        this.es = undefined;
        this.timer = setTimeout(() => this.open(), 100);
      }
    };
    this.es = es;
    return this;
  }

  get connected(): boolean {
    return this.es?.readyState === EventSource.OPEN;
  }

  drop(delayMs: number): void {
    if (!this.es) return;
    this.es.close();
    this.es = undefined;
    this.timer = setTimeout(() => this.open(), delayMs);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.es?.close();
    this.es = undefined;
  }
}

/**
 * A raw HTTP client through nginx that resumes with the Last-Event-ID header, parsing the
 * stream itself (WHATWG rules: CR, LF or CRLF line ends, `data` lines joined with LF).
 */
export class RawSubscriber extends BaseSubscriber implements Subscriber {
  private res: IncomingMessage | undefined;
  private destroy: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryMs = 300;
  open = false;

  start(): this {
    if (this.closed) return this;
    const q = new URLSearchParams({ channels: this.channels.join(',') });
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      authorization: `Bearer ${this.token}`,
    };
    if (this.lastId) headers['last-event-id'] = this.lastId;
    let ended = false;
    const again = (delay: number) => {
      if (ended) return;
      ended = true;
      this.open = false;
      this.destroy = undefined;
      if (!this.closed) this.timer = setTimeout(() => this.start(), delay);
    };
    const req = request(`${this.base}/events?${q.toString()}`, { agent: false, headers }, (res) => {
      if (res.statusCode !== 200) {
        this.refused(res.statusCode ?? 0);
        res.resume();
        res.on('end', () => again(100));
        res.on('error', () => again(100));
        return;
      }
      this.open = true;
      this.res = res;
      res.setEncoding('utf8');
      let buf = '';
      let cur = { event: '', data: [] as string[], id: undefined as string | undefined };
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (;;) {
          const m = /\r\n|\r|\n/.exec(buf);
          if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (line === '') {
            if (cur.data.length > 0 || cur.id !== undefined) {
              this.onEvent(cur.event || 'message', cur.data.join('\n'), cur.id);
            }
            cur = { event: '', data: [], id: undefined };
          } else if (line.startsWith(':')) {
            if (line === ': hb' || line === ':hb') this.heartbeats++;
          } else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? '' : line.slice(colon + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'data') cur.data.push(value);
            else if (field === 'event') cur.event = value;
            else if (field === 'id') cur.id = value;
            else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
          }
        }
      });
      res.on('end', () => again(this.retryMs));
      res.on('close', () => again(this.retryMs));
      res.on('error', () => again(this.retryMs));
    });
    req.on('error', () => again(this.retryMs));
    this.destroy = () => req.destroy();
    req.end();
    return this;
  }

  get connected(): boolean {
    return this.open;
  }

  drop(delayMs: number): void {
    if (!this.destroy) return;
    const destroy = this.destroy;
    this.destroy = undefined;
    this.retryMs = delayMs;
    destroy();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.destroy?.();
  }
}

// ---------------------------------------------------------------------------------------
// Checks

/**
 * Waits until every subscriber holds as many events per channel as the store, then checks
 * that each received exactly the stored events of its channels, in sequence order, with no
 * duplicate; and that every acknowledged event is stored under the sequence it was
 * acknowledged with. Returns the stored events.
 */
export async function expectExactDelivery(
  cluster: Cluster,
  subscribers: readonly Subscriber[],
  publishers: readonly Publisher[],
  channels: readonly string[],
  timeoutMs = 60_000,
): Promise<Map<string, StoredRow[]>> {
  const stored = await storedEvents(cluster.databaseUrl, cluster.schema, channels);
  // Nothing acknowledged is lost: every 202 is in the store with the sequence it announced.
  const seqOf = new Map<string, number>();
  for (const rows of stored.values()) for (const r of rows) seqOf.set(r.key, r.seq);
  for (const p of publishers) {
    for (const [key, a] of p.acked) {
      if (seqOf.get(key) !== a.seq) {
        throw new Error(`acknowledged ${key} (seq ${a.seq}) is not in the store`);
      }
    }
  }
  // An event is stored once, unless its publisher retried it without an Idempotency-Key
  // after an attempt whose outcome it could not know (the node died mid-request).
  const mayRepeat = new Set(publishers.flatMap((p) => (p.idempotent ? [] : [...p.unknown])));
  for (const rows of stored.values()) {
    const seen = new Set<string>();
    for (const r of rows) {
      if (seen.has(r.key) && !mayRepeat.has(r.key)) throw new Error(`${r.key} stored twice`);
      seen.add(r.key);
    }
  }
  const missing = () => {
    const out: string[] = [];
    for (const s of subscribers) {
      for (const c of s.channels) {
        const want = stored.get(c)?.length ?? 0;
        const have = s.got.get(c)?.length ?? 0;
        if (have < want) out.push(`${s.name} ${c}: ${have}/${want}`);
      }
    }
    return out;
  };
  try {
    await waitFor(() => missing().length === 0, timeoutMs, 'every subscriber to catch up');
  } catch (err) {
    throw new Error(
      `${(err as Error).message}: ${missing().slice(0, 10).join(', ')}\n${cluster.logs()}`,
      { cause: err },
    );
  }
  for (const s of subscribers) {
    for (const c of s.channels) {
      const want = (stored.get(c) ?? []).map((r) => r.key);
      const got = s.got.get(c) ?? [];
      if (got.length !== want.length || got.some((k, i) => k !== want[i])) {
        const i = got.findIndex((k, j) => k !== want[j]);
        throw new Error(
          `${s.name} on ${c}: received ${got.length} events, stored ${want.length}; first difference at ${i}: got ${got[i]}, stored ${want[i]}`,
        );
      }
    }
  }
  return stored;
}
