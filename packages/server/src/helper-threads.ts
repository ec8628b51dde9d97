import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** How often threads started since the last pass are looked for. */
const RESCAN_MS = 5000;

/**
 * The event loop's thread first. Besides it, a Herald process runs helper threads: SQLite's
 * WAL checkpoint thread, V8's garbage-collection and compiler workers, libuv's pool. When the
 * process has one core (or shares it), each of them, once running, keeps the core for a
 * scheduler slice of a few milliseconds while publishes and deliveries wait on the event
 * loop: 4-8 ms stalls, which set the p99 at 2,000 single publishes/s (bench/results/notebook.md).
 * Here every thread but the main one gets the nice level `nice`, so the scheduler hands the
 * core to the event loop as soon as it has work, and the helpers run in its idle time.
 *
 * Linux only (elsewhere, and with `nice` 0, it does nothing). Threads are found in
 * `/proc/self/task`, again every few seconds for threads started later (libuv starts its pool
 * on first use). A thread's priority is never raised: one that already runs at `nice` or
 * lower keeps its level. A lowered helper still runs whenever the event loop is idle or
 * blocked; the one place it can lag is a WAL restart, when the store's appends wait for the
 * checkpoint thread while the event loop goes on with other work (measured at the durable
 * capacity's edge: bench/results/notebook.md, "Helper threads and the checkpoint thread").
 */
export function lowerHelperThreads(nice: number): void {
  if (process.platform !== 'linux' || nice === 0) return;
  const pass = (): void => {
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return;
    }
    for (const name of tids) {
      const tid = Number(name);
      // The main thread's id is the process id.
      if (tid === process.pid) continue;
      try {
        if (getPriority(tid) < nice) setPriority(tid, nice);
      } catch {
        // The thread ended meanwhile, or the system refused: it keeps its priority.
      }
    }
  };
  pass();
  setInterval(pass, RESCAN_MS).unref();
}
