import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { StreamBounds } from '../streams/stream-buffer.js';
import { isHeraldMessage, type IpcLink, type ToPrimary, type ToWorker } from './link.js';
import { WorkerRelay } from './relay.js';

/** The environment variable that tells a forked worker its slot (set by the primary only). */
export const WORKER_SLOT_ENV = 'HERALD_WORKER_SLOT';

/**
 * How many workers `herald serve` runs: `workers` when set; otherwise one per core, except in
 * dev mode (one process is easier to debug, and `npm start` is dev mode) and with an
 * in-memory SQLite database, which no second process could open.
 */
export function workerCount(config: Config): number {
  const memory = !config.databaseUrl && config.sqlitePath === ':memory:';
  if (config.workers > 1 && memory) {
    throw new ConfigError('workers: an in-memory SQLite database cannot be shared; use a file');
  }
  if (config.workers > 0) return config.workers;
  return config.dev || memory ? 1 : availableParallelism();
}

/** A quick death (before this long) doubles the wait before the slot's next start. */
const QUICK_DEATH_MS = 1000;
const MAX_RESTART_DELAY_MS = 5000;

/** The primary's end of a worker's IPC channel. */
function workerLink(worker: Worker): IpcLink<ToWorker, ToPrimary> {
  // A send racing the worker's exit fails asynchronously: the exit handler deals with it.
  worker.on('error', () => undefined);
  return {
    send(message) {
      if (!worker.isConnected()) throw new Error(`worker ${worker.id} is gone`);
      worker.send(message);
    },
    listen(listener) {
      const on = (m: unknown) => {
        if (isHeraldMessage(m)) listener(m as ToPrimary);
      };
      worker.on('message', on);
      return () => worker.off('message', on);
    },
  };
}

export interface PrimaryOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly workers: number;
  readonly streamBounds: StreamBounds;
}

/**
 * Runs the primary process of `herald serve --workers N`: forks N workers of this same
 * command (node:cluster, which hands each accepted connection to a worker in turn), serves
 * them as their relay (`relay.ts`), starts a new worker in the slot of one that died (its
 * clients reconnect, to any worker, and resume from their cursor), and on SIGTERM or SIGINT
 * has every worker drain, then exits. The workers hold no state of their own that the
 * others need: the SQLite file and the relay do.
 */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { config, log, workers } = options;
  const relay = new WorkerRelay(options.streamBounds);
  await relay.start();
  const running = new Map<number, Worker>();
  const listening = new Set<number>();
  const delays = new Map<number, number>();
  let announced = false;
  let stopping = false;
  let failed = false;

  const fork = (slot: number): void => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
    const detach = relay.attach(workerLink(worker));
    const bornAt = Date.now();
    running.set(slot, worker);
    worker.on('listening', (address: { port: number }) => {
      listening.add(slot);
      if (announced || listening.size < workers) return;
      announced = true;
      const host = config.host || (config.dev ? '127.0.0.1' : '0.0.0.0');
      log.info(
        { port: address.port, workers },
        `herald listening on http://${host}:${address.port} (${workers} workers)`,
      );
    });
    worker.on('exit', (code, signal) => {
      detach();
      if (running.get(slot) === worker) running.delete(slot);
      listening.delete(slot);
      if (stopping) {
        if (code !== 0) failed = true;
        if (running.size === 0) finish();
        return;
      }
      const quick = Date.now() - bornAt < QUICK_DEATH_MS;
      const delay = quick ? Math.min(MAX_RESTART_DELAY_MS, (delays.get(slot) ?? 50) * 2) : 0;
      delays.set(slot, quick ? delay : 0);
      log.warn(
        { worker: slot, pid: worker.process.pid, code, signal, restartInMs: delay },
        'worker exited; starting another in its slot',
      );
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, delay);
    });
  };

  const finish = (): void => {
    void relay.close().finally(() => {
      log.info('shutdown complete');
      process.exit(failed ? 1 : 0);
    });
  };

  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: stopping the workers without waiting for the drain');
      for (const w of running.values()) w.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, workers: running.size }, 'shutting down: every worker drains its streams');
    if (running.size === 0) return finish();
    // Each worker runs its own drain (and its own grace period); this is the backstop.
    const force = setTimeout(() => {
      log.error('shutdown grace period over; stopping the workers');
      for (const w of running.values()) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownGraceMs + 2000);
    force.unref();
    for (const w of running.values()) w.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let slot = 0; slot < workers; slot++) fork(slot);
}
