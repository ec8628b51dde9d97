import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventSource } from 'eventsource';
import { Redis } from 'ioredis';
import { waitFor } from '../../../packages/server/test/helpers.js';
import { JOB_EVENT } from '../src/notices.js';

/** The built CLI of the example, as `herald-jobs` runs it. */
export const JOBS_CLI = resolve(import.meta.dirname, '../dist/cli.js');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise((r) => srv.close(r));
  return typeof a === 'object' && a ? a.port : 0;
}

async function pong(port: number): Promise<boolean> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  r.on('error', () => {}); // refused while it starts: the promise below says so
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/**
 * A redis-server of the test's own on a free port (the machine's shared one is never
 * restarted): append-only with fsync on every write, so a restart keeps every queued job.
 */
export async function startRedis(): Promise<{
  url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'jobs-redis-'));
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''].concat([
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ]),
      { stdio: 'ignore' },
    );
    await waitFor(() => pong(port), 20_000, 'redis-server to answer');
  };
  const halt = async () => {
    const c = child;
    if (c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const workers = new Set<ChildProcess>();

/** Kills every worker process still running (afterAll: a failed test leaves none behind). */
export function killWorkers(): void {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  workers.clear();
}

/** A worker process of the example (`herald-jobs worker`); resolves once it is ready. */
export async function spawnWorker(env: Record<string, string>): Promise<{
  child: ChildProcess;
  out: () => string;
  kill(signal: NodeJS.Signals): Promise<void>;
}> {
  const child = spawn(process.execPath, [JOBS_CLI, 'worker'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.add(child);
  child.once('exit', () => workers.delete(child));
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor(
    () => out.includes('jobs worker ready') || child.exitCode !== null,
    30_000,
    'worker to start',
  );
  if (child.exitCode !== null) throw new Error(`worker did not start: ${out}`);
  return {
    child,
    out: () => out,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}

/** Every job notice a user's stream delivered, counted per job id and type. */
export class UserStream {
  es: EventSource | undefined;
  lastId: string | undefined;
  /** `${type} ${jobId}` → how many times it arrived. */
  readonly seen = new Map<string, number>();
  /** The last event of each type, parsed (for shape checks). */
  readonly last = new Map<string, any>();
  markers = 0;
  resets = 0;

  constructor(
    readonly userId: string,
    private readonly heraldUrl: string,
    private readonly token: string,
  ) {}

  /** Opens the stream (resuming after `lastId` when it has one). */
  open(): void {
    const q = new URLSearchParams({ channels: `user:${this.userId}`, token: this.token });
    if (this.lastId) q.set('lastEventId', this.lastId);
    const es = new EventSource(`${this.heraldUrl}/events?${q.toString()}`);
    for (const type of Object.values(JOB_EVENT)) {
      es.addEventListener(type, (e) => {
        const data = JSON.parse(e.data);
        // job.* carry the job id in data; issue-* are notifications with it in data.data.
        const jobId: string = data.jobId ?? data.data?.jobId;
        const k = `${type} ${jobId}`;
        this.seen.set(k, (this.seen.get(k) ?? 0) + 1);
        this.last.set(type, data);
        this.lastId = e.lastEventId;
      });
    }
    es.addEventListener('marker', (e) => {
      this.markers++;
      this.lastId = e.lastEventId;
    });
    es.addEventListener('connected', (e) => {
      if (e.lastEventId) this.lastId = e.lastEventId;
    });
    es.addEventListener('reset', () => this.resets++);
    this.es = es;
  }

  get connected(): boolean {
    return this.lastId !== undefined;
  }

  count(type: string, jobId: string): number {
    return this.seen.get(`${type} ${jobId}`) ?? 0;
  }

  /** Outcome notices (`issue-complete` + `issue-failed`) of one job. */
  outcomes(jobId: string): number {
    return this.count(JOB_EVENT.complete, jobId) + this.count(JOB_EVENT.failed, jobId);
  }

  get outcomeTotal(): number {
    let n = 0;
    for (const [k, v] of this.seen) if (k.startsWith('issue-')) n += v;
    return n;
  }

  close(): void {
    this.es?.close();
    this.es = undefined;
  }
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** `POST /jobs/coupons` as the user; returns the job id from the 202. */
export async function queueCoupon(apiUrl: string, token: string, promotionId: string) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${apiUrl}/jobs/coupons`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ promotionId }),
    });
    const body = (await res.json()) as { jobId?: string };
    if (res.status === 202 && body.jobId) return body.jobId;
    if (res.status !== 503 || attempt > 20)
      throw new Error(`POST ${res.status} ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
