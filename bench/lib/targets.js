import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { childPids } from './stats.js';

/** Every child process the bench started, so that exit and signals can stop them all. */
export const children = new Set();

export function killChildren() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
}

/**
 * Asynchronous clean-ups that must run even when the bench is interrupted (a PostgreSQL
 * schema to drop). A target adds one when it creates something outside its own processes
 * and temp dirs, and deletes it once it cleaned up itself.
 * @type {Set<() => Promise<void>>}
 */
export const cleanups = new Set();

/** Runs every registered clean-up (after `killChildren`), giving up after `timeoutMs`. */
export async function runCleanups(timeoutMs = 10_000) {
  const all = [...cleanups];
  cleanups.clear();
  await Promise.race([
    Promise.allSettled(all.map((fn) => fn())),
    new Promise((r) => setTimeout(r, timeoutMs).unref()),
  ]);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function get(port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/** Spawns `cmd args` pinned to `core` with taskset; returns the ChildProcess. */
export function spawnPinned(core, cmd, args, opts) {
  // Servers inherit this process's niceness (see --nice in run.js).
  const argv = ['taskset', '-c', String(core), cmd, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...opts,
  });
  children.add(child);
  let tail = '';
  const keep = (d) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => children.delete(child));
  child.output = () => tail;
  return child;
}

/** Polls GET `path` until it answers 200 (30 s at most); throws with the child's output. */
export async function waitHealthy(port, path, child, what) {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${child.output()}`);
    if ((await get(port, path)) === 200) return;
    await sleep(50);
  }
  throw new Error(`${what} did not become healthy: ${child.output()}`);
}

/** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. */
export async function stopChild(child, signal = 'SIGTERM', timeoutMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

/** A 100-byte payload with the sequence number first and the send time second. */
export function payload(seq, sentAtMs) {
  const head = `{"s":${seq},"t":${sentAtMs.toFixed(3)},"p":"`;
  return head + 'x'.repeat(Math.max(0, 100 - head.length - 2)) + '"}';
}

/**
 * Herald itself, from the built CLI, with auth (JWT per subscriber, API key for publishers)
 * and durable storage in SQLite on.
 */
export class HeraldTarget {
  constructor({ root, port, cli, nodeArgs = [], workers = 1 }) {
    this.name = 'herald';
    /** `herald serve --workers`: 1 is pinned to core 0; more may use every core. */
    this.workers = workers;
    this.label = workers > 1 ? `Herald, ${workers} workers` : 'Herald';
    this.root = root;
    this.port = port;
    this.cli = cli;
    this.nodeArgs = nodeArgs;
    this.apiKey = 'bench-api-key-0123456789abcdef';
    this.secret = 'bench-jwt-secret-0123456789abcdef-0123456789';
    this.key = new TextEncoder().encode(this.secret);
    /** @type {Map<number, string>} */
    this.tokens = new Map();
    this.dataDir = '';
    this.child = null;
    this.durable = true;
  }

  get pid() {
    return this.child?.pid ?? 0;
  }

  /**
   * The processes whose CPU counts as the server's: with workers, the primary and each worker
   * (its children, read afresh: a worker that died is replaced by another pid).
   */
  get pids() {
    const pid = this.pid;
    return this.workers <= 1 || !pid ? [pid] : [pid, ...childPids(pid)];
  }

  /** Starts on a fresh data dir, or on `dataDir` to restart over the same store. */
  async start(dataDir) {
    if (!dataDir) {
      this.dataDir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
    }
    this.child = spawnPinned(
      // Several workers share every core with the load generator (there is no spare core on
      // a 2-core machine): the honest cost of running them there.
      this.workers > 1 ? `0-${Math.max(1, cpus().length - 1)}` : 0,
      process.execPath,
      [
        ...this.nodeArgs,
        this.cli,
        'serve',
        '--port',
        String(this.port),
        '--host',
        '127.0.0.1',
        '--data-dir',
        this.dataDir,
        '--api-keys',
        this.apiKey,
        '--jwt-secret',
        this.secret,
        '--log-level',
        'warn',
        '--workers',
        String(this.workers),
      ],
      { cwd: this.root },
    );
    await waitHealthy(this.port, '/healthz', this.child, 'herald');
    // /healthz answers once the first worker listens; the others join a moment later.
    if (this.workers > 1) {
      const until = Date.now() + 30_000;
      while (this.pids.length < this.workers + 1 && Date.now() < until) await sleep(50);
      await sleep(1000);
    }
  }

  /** Graceful stop (SIGTERM: streams get a shutdown event). Keeps the data dir for a restart. */
  async stop() {
    // Streams the bench closed a moment ago may not be detached yet; SIGTERM would then pace
    // their "drain" over Herald's drain window (10 s) for nothing.
    const until = Date.now() + 3000;
    while (this.child && this.child.exitCode === null && Date.now() < until) {
      const n = await fetch(`http://127.0.0.1:${this.port}/healthz`)
        .then((r) => r.json())
        .then((j) => j.connections)
        .catch(() => 0);
      if (!n) break;
      await sleep(50);
    }
    if (this.child) await stopChild(this.child);
    this.child = null;
  }

  cleanup() {
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    this.dataDir = '';
  }

  async mintTokens(count) {
    const exp = Math.floor(Date.now() / 1000) + 4 * 3600;
    for (let i = 0; i < count; i++) {
      if (this.tokens.has(i)) continue;
      const jwt = await new SignJWT({ channels: ['bench', 'bench:*'] })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(String(i))
        .setExpirationTime(exp)
        .sign(this.key);
      this.tokens.set(i, jwt);
    }
  }

  /** Channel of user i in the targeted scenarios. */
  userChannel(i) {
    return `user:${i}`;
  }

  subscribe(channel, i, lastEventId) {
    return {
      path: `/events?channels=${encodeURIComponent(channel)}`,
      headers:
        `Authorization: Bearer ${this.tokens.get(i)}\r\n` +
        (lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : ''),
    };
  }

  /**
   * `data` is the payload's JSON text, sent as a JSON value: Herald sends a string's JSON text
   * (quotes and escapes), so a payload sent as a string would reach the subscribers escaped.
   */
  publish(channels, data) {
    const body =
      channels.length === 1
        ? `{"channel":${JSON.stringify(channels[0])},"data":${data},"durable":${this.durable}}`
        : `{"channels":${JSON.stringify(channels)},"data":${data},"durable":${this.durable}}`;
    return {
      path: '/publish',
      headers: `X-Herald-Key: ${this.apiKey}\r\nContent-Type: application/json\r\n`,
      body,
    };
  }

  /** `POST /notify/{user}`: one notification, stored in the user's inbox and pushed live. */
  notify(i, data) {
    return {
      path: `/notify/${i}`,
      headers: `X-Herald-Key: ${this.apiKey}\r\nContent-Type: application/json\r\n`,
      body: `{"title":"bench","message":"bench notification","data":${data}}`,
    };
  }

  /** `POST /broadcast` to the listed users, one notification each. */
  broadcast(users, data) {
    return {
      path: '/broadcast',
      headers: `X-Herald-Key: ${this.apiKey}\r\nContent-Type: application/json\r\n`,
      body: `{"users":${JSON.stringify(users.map(String))},"title":"bench","message":"bench broadcast","data":${data}}`,
    };
  }

  /** Seed 003's alert: `POST /notifications` to a shared feed, with a severity. */
  alert(feed, data) {
    return {
      path: '/notifications',
      headers: `X-Herald-Key: ${this.apiKey}\r\nContent-Type: application/json\r\n`,
      body: `{"channel":${JSON.stringify(feed)},"severity":"high","title":"bench","message":"bench alert","data":${data}}`,
    };
  }

  /** The alert stream of a shared feed. */
  subscribeAlerts(feed, i) {
    return {
      path: `/alerts/stream?channel=${encodeURIComponent(feed)}`,
      headers: `Authorization: Bearer ${this.tokens.get(i)}\r\n`,
    };
  }
}

/**
 * What the peers do for the inbox scenarios, which they have no inbox for: a notify is a
 * publish to the user's channel, an alert a publish to the feed's channel.
 */
const peerInbox = {
  notify(i, data) {
    return this.publish([this.userChannel(i)], data);
  },
  alert(feed, data) {
    return this.publish([feed], data);
  },
  subscribeAlerts(feed, i) {
    return this.subscribe(feed, i);
  },
};

/** The plain Node `http` floor (bench/peers/node-floor.js). */
export class NodeFloorTarget {
  constructor({ root, port, nodeArgs = [] }) {
    this.name = 'floor';
    this.label = 'Node floor';
    this.root = root;
    this.port = port;
    this.nodeArgs = nodeArgs;
    this.child = null;
  }

  get pid() {
    return this.child?.pid ?? 0;
  }

  async start() {
    this.child = spawnPinned(
      0,
      process.execPath,
      [...this.nodeArgs, join(this.root, 'bench/peers/node-floor.js'), String(this.port)],
      { cwd: this.root },
    );
    await waitHealthy(this.port, '/healthz', this.child, 'node floor');
  }

  async stop() {
    if (this.child) await stopChild(this.child);
    this.child = null;
  }

  cleanup() {}

  async mintTokens() {}

  userChannel(i) {
    return `user:${i}`;
  }

  subscribe(channel) {
    return { path: `/events?channels=${encodeURIComponent(channel)}`, headers: '' };
  }

  publish(channels, data) {
    const body =
      channels.length === 1
        ? `{"channel":${JSON.stringify(channels[0])},"data":${JSON.stringify(data)}}`
        : `{"channels":${JSON.stringify(channels)},"data":${JSON.stringify(data)}}`;
    return { path: '/publish', headers: 'Content-Type: application/json\r\n', body };
  }
}

Object.assign(NodeFloorTarget.prototype, peerInbox);

/** Where Debian's nginx keeps dynamic modules, from `nginx -V`. */
function nchanModulePath() {
  if (process.env.NCHAN_MODULE) return process.env.NCHAN_MODULE;
  const out = execFileSync('sh', ['-c', 'nginx -V 2>&1'], { encoding: 'utf8' });
  const m = /--modules-path=(\S+)/.exec(out);
  if (!m) throw new Error('cannot find the nginx modules path in `nginx -V`; set NCHAN_MODULE');
  return join(m[1], 'ngx_nchan_module.so');
}

export function nginxVersion() {
  try {
    return (
      /nginx\/(\S+)/.exec(execFileSync('sh', ['-c', 'nginx -v 2>&1'], { encoding: 'utf8' }))?.[1] ??
      '?'
    );
  } catch {
    return 'not installed';
  }
}

/**
 * nginx with the nchan module: one worker, its own prefix in a temp dir, its own port,
 * `daemon off` so it is our child. Connections and CPU live in the worker process.
 */
export class NchanTarget {
  constructor({ root, port }) {
    this.name = 'nchan';
    this.label = 'nginx+nchan';
    this.root = root;
    this.port = port;
    this.child = null;
    this.prefix = '';
    this.workerPid = 0;
  }

  get pid() {
    return this.workerPid;
  }

  async start() {
    this.prefix = mkdtempSync(join(tmpdir(), 'nchan-bench-'));
    // The worker runs as an unprivileged user when the bench runs as root: it must be able
    // to enter the prefix.
    chmodSync(this.prefix, 0o755);
    mkdirSync(join(this.prefix, 'tmp'));
    const conf = readFileSync(join(this.root, 'bench/peers/nchan.conf'), 'utf8')
      .replaceAll('{{NCHAN_MODULE}}', nchanModulePath())
      .replaceAll('{{PORT}}', String(this.port));
    writeFileSync(join(this.prefix, 'nginx.conf'), conf);
    this.child = spawnPinned(
      0,
      'nginx',
      ['-p', this.prefix + '/', '-c', 'nginx.conf', '-e', 'error.log'],
      {
        cwd: this.prefix,
      },
    );
    await waitHealthy(this.port, '/healthz', this.child, 'nginx');
    for (let i = 0; i < 100 && this.workerPid === 0; i++) {
      this.workerPid = childPids(this.child.pid)[0] ?? 0;
      if (this.workerPid === 0) await sleep(20);
    }
    if (this.workerPid === 0) throw new Error('nginx worker not found');
  }

  async stop() {
    if (this.child) await stopChild(this.child, 'SIGTERM');
    this.child = null;
    this.workerPid = 0;
  }

  cleanup() {
    if (this.prefix) rmSync(this.prefix, { recursive: true, force: true });
    this.prefix = '';
  }

  async mintTokens() {}

  userChannel(i) {
    return `user:${i}`;
  }

  subscribe(channel, _i, lastEventId) {
    return {
      path: `/sub?id=${channel}`,
      headers: lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : '',
    };
  }

  publish(channels, data) {
    return {
      path: `/pub?id=${channels.join(',')}`,
      headers: 'Content-Type: text/plain\r\n',
      body: data,
    };
  }
}

Object.assign(NchanTarget.prototype, peerInbox);
