import { readFileSync, readdirSync } from 'node:fs';

/**
 * Latency histogram: 1 µs buckets up to 100 ms, then 1 ms buckets up to 120 s. Exact enough
 * for p50/p90/p99/max and constant memory, whatever the number of samples.
 */
export class Histogram {
  constructor() {
    this.fine = new Uint32Array(100_000);
    this.coarse = new Uint32Array(120_000);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** @param {number} ms */
  record(ms) {
    if (ms < 0) ms = 0;
    const us = Math.floor(ms * 1000);
    if (us < 100_000) this.fine[us]++;
    else this.coarse[Math.min(119_999, Math.floor(ms))]++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Value (ms) at quantile q in [0,1]; NaN when empty. */
  quantile(q) {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i];
      if (seen >= rank) return (i + 1) / 1000;
    }
    for (let i = 0; i < this.coarse.length; i++) {
      seen += this.coarse[i];
      if (seen >= rank) return i + 1;
    }
    return this.max;
  }

  summary() {
    return {
      count: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.count ? this.max : NaN,
      mean: this.count ? this.sum / this.count : NaN,
    };
  }
}

const WINDOW = 4096; // sequence numbers tracked ahead of the lowest missing one
const WORDS = WINDOW / 32;

/**
 * Counts every sequence number one subscriber receives: first receipts (`uniq`) and repeats
 * (`dups`). `base` is the lowest sequence not yet received; a bitmap covers the window after
 * it, so reordering by up to WINDOW is tolerated and memory stays at 512 bytes. Loss is
 * "expected minus uniq", computed by the caller who knows what was sent.
 */
export class SeqWindow {
  constructor(base = 0) {
    this.base = base;
    this.bits = new Uint32Array(WORDS);
    this.uniq = 0;
    this.dups = 0;
  }

  /** @param {number} s @returns {boolean} true when first seen */
  record(s) {
    if (s < this.base) {
      this.dups++;
      return false;
    }
    if (s >= this.base + WINDOW) {
      // Give up on what fell out of the window (counted as lost by the caller).
      const newBase = s - WINDOW + 1;
      for (let b = this.base; b < newBase && b < this.base + WINDOW; b++) this.clear(b);
      this.base = newBase;
    }
    const i = s & (WINDOW - 1);
    const w = i >>> 5;
    const m = 1 << (i & 31);
    if ((this.bits[w] & m) !== 0) {
      this.dups++;
      return false;
    }
    this.bits[w] |= m;
    this.uniq++;
    while (this.isSet(this.base)) {
      this.clear(this.base);
      this.base++;
    }
    return true;
  }

  isSet(s) {
    const i = s & (WINDOW - 1);
    return (this.bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  clear(s) {
    const i = s & (WINDOW - 1);
    this.bits[i >>> 5] &= ~(1 << (i & 31));
  }
}

/** VmRSS of a process in KiB (0 when it is gone). */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of a process. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

const TICK = 100; // USER_HZ on Linux

/** User and system CPU seconds of a process (all threads). */
export function cpuTimes(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / TICK, sys: Number(f[12]) / TICK };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** Children of a process (needs CONFIG_PROC_CHILDREN, present on Debian kernels). */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Nanoseconds the main thread of `pid` spent waiting on a run queue (ready but not running):
 * the sign that other work on the machine, not the server itself, is the bottleneck.
 */
export function runQueueWaitNs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * Measures a process's CPU use between `start()` and `stop()` as fractions of one core, and
 * the share of that time its main thread was runnable but waiting for a CPU (`waiting`).
 */
export class CpuMeter {
  constructor(pid) {
    this.pid = pid;
    this.t0 = 0;
    this.c0 = { user: 0, sys: 0 };
    this.w0 = 0;
  }

  start() {
    this.t0 = performance.now();
    this.c0 = this.pid === process.pid ? selfCpu() : cpuTimes(this.pid);
    this.w0 = runQueueWaitNs(this.pid);
  }

  stop() {
    const c1 = this.pid === process.pid ? selfCpu() : cpuTimes(this.pid);
    const s = (performance.now() - this.t0) / 1000;
    const user = (c1.user - this.c0.user) / s;
    const sys = (c1.sys - this.c0.sys) / s;
    const waiting = (runQueueWaitNs(this.pid) - this.w0) / 1e9 / s;
    return { user, sys, total: user + sys, waiting };
  }
}

/**
 * CpuMeter over several processes (a cluster's nodes, or a backend's processes): the sum of
 * their CPU, the largest wait share of any one, and each one's figures. A process that exits
 * during the measurement counts for nothing (its times can no longer be read).
 */
export class GroupCpuMeter {
  /** @param {number[]} pids */
  constructor(pids) {
    this.meters = pids.map((pid) => new CpuMeter(pid));
  }

  start() {
    for (const m of this.meters) m.start();
  }

  stop() {
    const each = this.meters.map((m) => {
      const r = m.stop();
      return r.total < 0 ? { user: 0, sys: 0, total: 0, waiting: 0 } : r;
    });
    const sum = (k) => each.reduce((a, r) => a + r[k], 0);
    return {
      user: sum('user'),
      sys: sum('sys'),
      total: sum('total'),
      waiting: Math.max(0, ...each.map((r) => r.waiting)),
      each,
    };
  }
}

function selfCpu() {
  const u = process.cpuUsage();
  return { user: u.user / 1e6, sys: u.system / 1e6 };
}

/**
 * CLOCK_MONOTONIC in ms with µs resolution: the same clock in every process on the machine,
 * and the one the native reader reads. (`performance.timeOrigin + now()` is not: Node reads
 * the wall clock once at start-up, and against CLOCK_REALTIME that was off by 0.03 ms in one
 * process and by about a millisecond in another.)
 */
export function clockMs() {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/**
 * CPU seconds all processes have used since boot (user, nice and system time of every core,
 * from /proc/stat). Interrupt and softirq time is left out: loopback traffic that the bench
 * itself causes is accounted there, and it is not "other work".
 */
export function systemBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (f[0] + f[1] + f[2]) / TICK;
}

/**
 * CPU used by everything except `pids` between `start()` and `stop()`, in cores: other
 * engineers' tests on a shared machine show up here.
 */
export class OthersMeter {
  constructor(pids) {
    this.pids = pids;
  }

  start() {
    this.t0 = performance.now();
    this.sys0 = systemBusySeconds();
    this.own0 = this.own();
  }

  /** CPU seconds of each of `pids` (0 for one that is gone). */
  own() {
    return this.pids.map((pid) => {
      const c = pid === process.pid ? selfCpu() : cpuTimes(pid);
      return c.user + c.sys;
    });
  }

  stop() {
    const s = (performance.now() - this.t0) / 1000;
    // A process that exited meanwhile (a PostgreSQL backend whose pooled connection was
    // closed) reads as 0: count nothing for it rather than minus its whole lifetime.
    const own1 = this.own();
    const ownDelta = own1.reduce((a, t, i) => a + Math.max(0, t - (this.own0[i] ?? 0)), 0);
    return Math.max(0, (systemBusySeconds() - this.sys0 - ownDelta) / s);
  }
}
