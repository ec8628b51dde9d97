import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { HeraldTarget, cleanups, sleep, spawnPinned, stopChild, waitHealthy } from './targets.js';

/** Schemas this bench creates: `herald_bench_<pid of the bench>_<random>`. */
const SCHEMA_RE = /^herald_bench_(\d+)_[0-9a-f]+$/;

/**
 * A Herald cluster for the bench: `nodes` processes of `herald serve` from the built CLI,
 * each on its own port, sharing a PostgreSQL store (a schema of this run's own, dropped at
 * the end) and a Redis broker (by default a private `redis-server` started here, so it can be
 * pinned with the nodes and holds nobody else's data; or a given Redis with a key prefix of
 * this run's own). No load balancer: the bench talks to each node directly.
 *
 * Pinning: every node and the private Redis on core 0, like the single server of the other
 * scenarios, so the cluster gets one core in all and its figures are a floor, not what three
 * nodes on three machines would do. PostgreSQL is the machine's service and is not pinned.
 *
 * Inherits tokens, channel names and request bodies from HeraldTarget; subscriber i streams
 * from node i mod `nodes`.
 */
export class HeraldClusterTarget extends HeraldTarget {
  /**
   * @param {{ root: string, cli: string, ports: number[], redisPort: number,
   *   databaseUrl: string, redisUrl?: string, nodeArgs?: string[] }} o
   */
  constructor({ root, cli, ports, redisPort, databaseUrl, redisUrl = '', nodeArgs = [] }) {
    super({ root, port: ports[0], cli, nodeArgs });
    this.name = 'herald-cluster';
    this.label = `Herald, ${ports.length} nodes`;
    this.ports = ports;
    this.databaseUrl = databaseUrl;
    /** Empty: a private redis-server on `redisPort`. */
    this.givenRedisUrl = redisUrl;
    this.redisPort = redisPort;
    this.redisUrl = '';
    this.redisPid = 0;
    this.redisChild = null;
    this.redisDir = '';
    const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
    this.schema = `herald_bench_${tag}`;
    this.redisPrefix = `herald-bench-${tag}:`;
    /** PostgreSQL application_name of the nodes' connections: finds their backend processes. */
    this.applicationName = `herald-bench-${tag}`;
    /** @type {import('node:child_process').ChildProcess[]} */
    this.nodes = [];
    /** @type {string[]} */
    this.dataDirs = [];
    /** @type {pg.Client | null} */
    this.admin = null;
    /** Registered in `cleanups` while the run has a schema: what an interrupted run undoes. */
    this.onInterrupt = async () => {
      this.cleanup();
      await this.dropOwnSchema();
    };
  }

  /** The nodes' pids (the pid of the first node is `pid`, for code written for one server). */
  get pids() {
    return this.nodes.map((c) => c.pid ?? 0);
  }

  get pid() {
    return this.nodes[0]?.pid ?? 0;
  }

  /** Where publishers send: every node, round-robin. */
  get publishPorts() {
    return this.ports;
  }

  /** What the run records about the topology. */
  describe() {
    return {
      nodes: this.ports.length,
      store: `PostgreSQL ${redactUrl(this.databaseUrl)}, schema ${this.schema} (dropped at the end)`,
      broker: this.givenRedisUrl
        ? `Redis ${redactUrl(this.givenRedisUrl)}, prefix ${this.redisPrefix} (keys removed at the end), not pinned`
        : 'private redis-server (no persistence), pinned to core 0 with the nodes',
      pinning:
        'all nodes (and the private Redis) on core 0, load generator on core 1; PostgreSQL (the machine service) unpinned',
      routing:
        'subscriber i connects straight to node i mod nodes (no load balancer); publishes round-robin over the nodes',
    };
  }

  async start() {
    this.admin = new pg.Client({
      connectionString: this.databaseUrl,
      connectionTimeoutMillis: 5000,
    });
    await this.admin.connect();
    await this.sweepStaleSchemas();
    cleanups.add(this.onInterrupt);
    await this.startRedis();
    const url = new URL(this.databaseUrl);
    url.searchParams.set('application_name', this.applicationName);
    this.nodes = [];
    this.dataDirs = [];
    const startNode = async (i) => {
      const dataDir = mkdtempSync(join(tmpdir(), `herald-bench-node${i + 1}-`));
      this.dataDirs.push(dataDir);
      const child = spawnPinned(
        0,
        process.execPath,
        [
          ...this.nodeArgs,
          this.cli,
          'serve',
          '--workers',
          '1',
          '--port',
          String(this.ports[i]),
          '--host',
          '127.0.0.1',
          '--data-dir',
          dataDir,
          '--database-url',
          url.toString(),
          '--database-schema',
          this.schema,
          '--redis-url',
          this.redisUrl,
          '--redis-prefix',
          this.redisPrefix,
          '--api-keys',
          this.apiKey,
          '--jwt-secret',
          this.secret,
          '--log-level',
          'warn',
          // The bench closes its streams before stopping a node: no need to pace a drain.
          '--drain-window-ms',
          '500',
          '--shutdown-grace-ms',
          '5000',
        ],
        { cwd: this.root },
      );
      this.nodes[i] = child;
      await waitHealthy(this.ports[i], '/readyz', child, `herald node ${i + 1}`);
    };
    // The first node runs the migrations (under an advisory lock); the others find them done.
    await startNode(0);
    await Promise.all(this.ports.slice(1).map((_, j) => startNode(j + 1)));
  }

  async startRedis() {
    if (this.givenRedisUrl) {
      this.redisUrl = this.givenRedisUrl;
      const r = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
      r.on('error', () => {}); // a failed connect() rejects: that is the error reported
      try {
        await r.connect();
        const info = await r.info('server');
        this.redisPid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? 0);
      } finally {
        r.disconnect();
      }
      return;
    }
    this.redisDir = mkdtempSync(join(tmpdir(), 'herald-bench-redis-'));
    this.redisChild = spawnPinned(
      0,
      'redis-server',
      [
        '--port',
        String(this.redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.redisDir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { cwd: this.redisDir },
    );
    this.redisUrl = `redis://127.0.0.1:${this.redisPort}`;
    const r = new Redis(this.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => {}); // refused while redis-server starts: the loop below retries
    const until = Date.now() + 10_000;
    for (;;) {
      if (this.redisChild.exitCode !== null)
        throw new Error(`redis-server exited: ${this.redisChild.output()}`);
      try {
        await r.connect();
        await r.ping();
        break;
      } catch (err) {
        r.disconnect();
        if (Date.now() > until) throw new Error(`redis-server did not answer: ${String(err)}`);
        await sleep(50);
      }
    }
    r.disconnect();
    // taskset execs the command: the child's pid is redis-server's.
    this.redisPid = this.redisChild.pid ?? 0;
  }

  /**
   * Processes that do the cluster's work besides the nodes: Redis, and the PostgreSQL
   * backends serving the nodes' connections (found by application_name; the pools open and
   * close connections, so this is asked again before every step).
   * @returns {Promise<{ redis: number[], postgres: number[] }>}
   */
  async backendPids() {
    let postgres = [];
    try {
      const { rows } = await /** @type {pg.Client} */ (this.admin).query(
        'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
        [this.applicationName],
      );
      postgres = rows.map((r) => Number(r.pid));
    } catch {
      /* the step goes on without PostgreSQL figures */
    }
    return { redis: this.redisPid ? [this.redisPid] : [], postgres };
  }

  subscribe(channel, i, lastEventId) {
    return { ...super.subscribe(channel, i, lastEventId), port: this.ports[i % this.ports.length] };
  }

  async stop() {
    await Promise.all(this.nodes.map((c) => stopChild(c, 'SIGTERM', 10_000)));
    this.nodes = [];
    if (this.redisChild) await stopChild(this.redisChild, 'SIGTERM', 5000);
    this.redisChild = null;
    if (this.givenRedisUrl) await this.removeRedisKeys().catch(() => {});
    try {
      await this.dropOwnSchema();
      cleanups.delete(this.onInterrupt);
    } catch (err) {
      // Left registered: the exit path tries again.
      console.warn(`bench: could not drop schema ${this.schema}: ${String(err)}`);
    }
    await this.admin?.end().catch(() => {});
    this.admin = null;
  }

  cleanup() {
    for (const d of [...this.dataDirs, this.redisDir]) {
      if (d) rmSync(d, { recursive: true, force: true });
    }
    this.dataDirs = [];
    this.redisDir = '';
  }

  /** Drops this run's schema (also from the SIGINT/watchdog path, after the nodes were killed). */
  async dropOwnSchema() {
    const c = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5000 });
    try {
      await c.connect();
      // Killed nodes' backends may hold locks for a moment after their sockets closed.
      await c.query("SET lock_timeout = '5s'");
      await c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(this.schema)} CASCADE`);
    } finally {
      await c.end().catch(() => {});
    }
  }

  /**
   * Schemas left by a bench run that was killed outright (SIGKILL, machine reset): dropped
   * when the run that made them is gone. Only names of this bench's own pattern are touched.
   */
  async sweepStaleSchemas() {
    const { rows } = await /** @type {pg.Client} */ (this.admin).query(
      "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'herald\\_bench\\_%'",
    );
    for (const { nspname } of rows) {
      const m = SCHEMA_RE.exec(nspname);
      if (!m || existsSync(`/proc/${m[1]}`)) continue;
      await this.admin
        ?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(nspname)} CASCADE`)
        .catch(() => {});
    }
  }

  /** With a shared Redis: removes whatever keys this run's prefix left (rate-limit counters). */
  async removeRedisKeys() {
    const r = new Redis(this.givenRedisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    try {
      await r.connect();
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${this.redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await r.del(...keys);
      } while (cursor !== '0');
    } finally {
      r.disconnect();
    }
  }
}

function redactUrl(u) {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return u;
  }
}
