import { fdatasyncSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { isDiskFullError } from './sqlite-errors.js';
import { WalWatch } from './wal-watch.js';

/**
 * Worker thread that checkpoints a SQLite WAL on its own connection, so the page copy and
 * fsync of a checkpoint (tens of ms on a shared disk: bench/results/notebook.md) do not stall the
 * event loop. Started by `SqliteStore`, which answers its reports; any error ends the
 * thread, and the store falls back to SQLite's automatic checkpoint.
 */
export interface CheckpointerData {
  /** The database file (it exists: the store opened it first). */
  readonly path: string;
  /** Time between checkpoints, ms. */
  readonly intervalMs: number;
  /** WAL length (frames) from which the WAL should be started over. */
  readonly restartFrames: number;
  /** A descriptor of the database file, owned by the store, for flushing what passes copied. */
  readonly dbFd: number;
}

/** To the store: the connection is open; the WAL is long (hold commits and send 'restart');
 * the restart is over. */
export type CheckpointerReport = 'ready' | 'wal-long' | 'restart-done';

/** From the store: restart the WAL now (the store holds its commits), or close and exit. */
export type CheckpointerCommand = 'restart' | 'stop';

interface CheckpointRow {
  readonly busy: number;
  /** Frames in the WAL. */
  readonly log: number;
  readonly checkpointed: number;
}

const { path, intervalMs, restartFrames, dbFd } = workerData as CheckpointerData;
const port = parentPort;
if (!port) throw new Error('sqlite-checkpointer runs only as a worker thread');

const db = new Database(path, { fileMustExist: true });
// Only RESTART waits: for the write lock, then for readers while holding it, so every other
// writer waits behind it. Kept short; a RESTART that gives up is tried at the next interval.
db.pragma('busy_timeout = 100');
port.postMessage('ready' satisfies CheckpointerReport);

/**
 * Runs one checkpoint. One that cannot write (SQLITE_FULL: the database file cannot grow)
 * is not the end of the thread: the WAL keeps every page meanwhile, and the same checkpoint
 * succeeds once space is freed. Ending the thread instead handed checkpoints to the event
 * loop for good. Answers undefined when it could not write.
 */
function checkpoint(mode: 'PASSIVE' | 'RESTART'): CheckpointRow | undefined {
  try {
    return (db.pragma(`wal_checkpoint(${mode})`) as CheckpointRow[])[0];
  } catch (err) {
    if (isDiskFullError(err)) return undefined;
    throw err;
  }
}

/** PASSIVE waits for no one: the store goes on committing while it copies. */
function copyPassively(): number | undefined {
  const row = checkpoint('PASSIVE');
  return row && row.log;
}

const watch = new WalWatch(restartFrames);

const timer = setInterval(() => {
  if (watch.waiting) return;
  const log = copyPassively();
  if (log === undefined || !watch.afterPass(log)) return;
  // Once more for what was written during the first pass, then flush the database file while
  // the store still commits: a pass that never catches up with the WAL copies pages into the
  // file without syncing it, and the RESTART that the store's appends wait for synced all of
  // them (holds of 20-90 ms at 10,125 events/s, traced). Left to the RESTART are the pages
  // of the last few milliseconds.
  copyPassively();
  fdatasyncSync(dbFd);
  copyPassively();
  port.postMessage('wal-long' satisfies CheckpointerReport);
}, intervalMs);

port.on('message', (command: CheckpointerCommand) => {
  if (command === 'restart') {
    // A restart that could not write counts as a busy one: tried again later.
    const row = checkpoint('RESTART');
    watch.afterRestart(row?.busy !== 0, row?.log ?? 0);
    port.postMessage('restart-done' satisfies CheckpointerReport);
  } else {
    clearInterval(timer);
    db.close();
    port.close();
  }
});
