import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Histogram } from './stats.js';
import { subscribeRequest } from './subscribers.js';

const SOURCE = fileURLToPath(new URL('../native/sse-reader.c', import.meta.url));
const WORK_DIR = fileURLToPath(new URL('../.work/', import.meta.url));
const BINARY = `${WORK_DIR}sse-reader`;

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

/**
 * Compiles bench/native/sse-reader.c into bench/.work/ when the binary is missing or older
 * than its source, and returns the binary's path. Throws (with gcc's message) when gcc is
 * missing or the build fails; the caller then reads with the JS pool.
 */
export function buildNativeReader() {
  if (mtime(BINARY) >= mtime(SOURCE)) return BINARY;
  mkdirSync(WORK_DIR, { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-o', BINARY, SOURCE], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return BINARY;
}

/**
 * SubscriberPool's interface, as the fan-out scenario uses it, over the native reader
 * (bench/native/sse-reader.c) in a child process. Its epoll loop takes 5-7 us of CPU per
 * delivery, nearly all kernel, where the Node pool takes 10-13 us: the generator no longer
 * needs as long as the server to take in one message fanned out to thousands of subscribers.
 *
 * The reader's counters live in the child. `seqTotals()`, `resetHistogram()` and `connect()`
 * are async and refresh `readyCount`, `received`, `bytes`, `unexpectedCloses`, `errors` and
 * `control`, which hold the values of the last refresh. The child inherits this process's
 * CPU pinning and dies with it (it exits at the end of its stdin, and on its parent's death).
 */
export class NativeSubscriberPool {
  /** @param {number} port server port for specs without one @param {string} binary */
  constructor(port, binary) {
    this.port = port;
    this.size = 0;
    this.readyCount = 0;
    this.received = 0;
    this.bytes = 0;
    this.unexpectedCloses = 0;
    /** @type {Record<string, number>} */
    this.errors = {};
    /** @type {Record<string, number>} */
    this.control = {};
    /** @type {((done: number, ok: number) => void) | null} */
    this.onProgress = null;
    /** Callers waiting for a reply, per reply kind; the reader answers each kind in order. */
    this.waiting = { stats: [], hist: [], connected: [], closed: [] };
    /** The "stats" reply being read: its first line, then error and control lines. */
    this.snapshot = null;
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const err = new Error(`sse-reader exited (${signal ?? `code ${code}`})`);
        for (const queue of Object.values(this.waiting))
          for (const w of queue.splice(0)) w.reject(err);
        resolve(undefined);
      });
    });
    // A failed write means the reader is gone; the exit handler rejects the waiters.
    this.child.stdin.on('error', () => {});
    let pending = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (text) => {
      pending += text;
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        this.onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
  }

  /** The reader process: its CPU is the generator's too. */
  get helperPids() {
    return this.child.pid === undefined ? [] : [this.child.pid];
  }

  /** @param {string} line */
  onLine(line) {
    const sp = line.indexOf(' ');
    const kind = sp === -1 ? line : line.slice(0, sp);
    const rest = sp === -1 ? '' : line.slice(sp + 1);
    if (kind === 'progress') {
      const [done, ok] = rest.split(' ').map(Number);
      this.onProgress?.(done, ok);
    } else if (kind === 'connected') {
      const [ok, failed] = rest.split(' ').map(Number);
      this.settle('connected', { ok, failed });
    } else if (kind === 'stats') {
      const [ready, received, bytes, uniq, dups, unexpectedCloses] = rest.split(' ').map(Number);
      this.snapshot = {
        ready,
        received,
        bytes,
        uniq,
        dups,
        unexpectedCloses,
        errors: {},
        control: {},
      };
    } else if (kind === 'error' || kind === 'control') {
      // "<n> <name>": the name is last because an event type may contain spaces.
      const sp2 = rest.indexOf(' ');
      const map = kind === 'error' ? this.snapshot.errors : this.snapshot.control;
      map[rest.slice(sp2 + 1)] = Number(rest.slice(0, sp2));
    } else if (kind === 'end') {
      const s = this.snapshot;
      this.readyCount = s.ready;
      this.received = s.received;
      this.bytes = s.bytes;
      this.unexpectedCloses = s.unexpectedCloses;
      this.errors = s.errors;
      this.control = s.control;
      this.settle('stats', s);
    } else if (kind === 'hist') {
      this.settle('hist', histogramFrom(rest));
    } else if (kind === 'closed') {
      this.settle('closed', undefined);
    } else {
      throw new Error(`sse-reader: unexpected reply ${JSON.stringify(line.slice(0, 80))}`);
    }
  }

  settle(kind, value) {
    this.waiting[kind].shift()?.resolve(value);
  }

  /** Sends `command` and resolves with the reply of `kind`. */
  request(command, kind) {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error('sse-reader is not running'));
        return;
      }
      this.waiting[kind].push({ resolve, reject });
      this.child.stdin.write(command);
    });
  }

  /** Fetches the reader's counters into the pool's fields; returns them. */
  refresh() {
    return this.request('stats\n', 'stats');
  }

  /**
   * Opens subscribers 0..count-1, `concurrency` at a time, as SubscriberPool.connect does:
   * `spec(i)` gives path, extra header lines and optionally the port of subscriber i.
   */
  async connect(
    count,
    spec,
    { concurrency = 500, timeoutMs = 30_000, track = false, onProgress } = {},
  ) {
    const start = performance.now();
    const parts = [];
    for (let i = 0; i < count; i++) {
      const s = spec(i);
      const port = s.port ?? this.port;
      const request = Buffer.from(subscribeRequest(s, port));
      parts.push(Buffer.from(`sub ${i} ${port} ${request.length}\n`), request);
    }
    parts.push(Buffer.from(`connect ${count} ${concurrency} ${timeoutMs} ${track ? 1 : 0}\n`));
    this.size = Math.max(this.size, count);
    this.onProgress = onProgress ?? null;
    const { ok, failed } = await this.request(Buffer.concat(parts), 'connected');
    this.onProgress = null;
    await this.refresh();
    return { ok, failed, ms: performance.now() - start };
  }

  /** Sum of first receipts and duplicates over all subscribers; refreshes the counters. */
  async seqTotals() {
    const s = await this.refresh();
    return { uniq: s.uniq, dups: s.dups };
  }

  /** Starts a fresh latency histogram in the reader; resolves with the old one. */
  resetHistogram() {
    return this.request('hist\n', 'hist');
  }

  /** Closes every stream, then ends the reader (the pool cannot be used after this). */
  async closeAll(timeoutMs = 10_000) {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.request('close\n', 'closed').catch(() => {});
      this.child.stdin.end();
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    this.readyCount = 0;
  }
}

/** A Histogram from the reader's "<count> <sum> <max> [<bucket> <n>]..." reply. */
function histogramFrom(text) {
  const f = text.split(' ').map(Number);
  const h = new Histogram();
  h.count = f[0];
  h.sum = f[1];
  h.max = f[2];
  for (let k = 3; k + 1 < f.length; k += 2) {
    const bucket = f[k];
    if (bucket < h.fine.length) h.fine[bucket] = f[k + 1];
    else h.coarse[bucket - h.fine.length] = f[k + 1];
  }
  return h;
}
