import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { inTurns } from '../in-turns.js';
import type {
  CheckpointerCommand,
  CheckpointerData,
  CheckpointerReport,
} from './sqlite-checkpointer.js';
import { isDiskFullError } from './sqlite-errors.js';
import type {
  AppendOptions,
  AtomicWrite,
  ChannelHead,
  EventInput,
  RetentionPolicy,
  Store,
  StoredEvent,
} from './store.js';

/**
 * The embedded default store: one SQLite file in WAL mode.
 *
 * SQLite has a single writer, and better-sqlite3 runs each transaction synchronously, so a
 * group's sequences are assigned and committed before any other group can start: sequence
 * order is commit order without further locking. `synchronous=NORMAL` in WAL mode survives a
 * process crash (what the restart tests exercise); set `fullSync` to survive power loss too.
 *
 * Group commit: the fixed cost of a commit (WAL frame writes, locks) dominated a
 * single-event publish, so every `append` requested in one turn of the event loop is
 * committed in one transaction at the end of that turn, and each caller gets its own rows.
 * The WAL is checkpointed by a worker thread (`sqlite-checkpointer.ts`) instead of inside a
 * commit on the event loop.
 */
export interface SqliteStoreOptions {
  /** Database file; ':memory:' for a throwaway store. */
  readonly path: string;
  /** fsync on every commit (survives power loss; slower). Default false. */
  readonly fullSync?: boolean;
  /**
   * Called when the WAL checkpoint thread fails to start or dies; the store then goes back
   * to SQLite's automatic checkpoint on the event loop. Default: ignored.
   */
  readonly onError?: (err: Error) => void;
  /**
   * Retention works in slices, each its own transaction, with a turn of the event loop
   * between them: at most this many channels looked at per slice (default 500) ...
   */
  readonly trimChannelsPerSlice?: number;
  /** ... and about this many events deleted per slice (default 2,000). */
  readonly trimRowsPerSlice?: number;
  /**
   * Another process using the same file runs the checkpoint thread (`herald serve --workers`:
   * the first worker does): this connection starts none and never checkpoints on its event
   * loop either. Default false.
   */
  readonly checkpointedElsewhere?: boolean;
}

interface EventRow {
  channel: string;
  seq: number;
  id: string;
  type: string;
  data: string;
  ts: number;
}

/** A channel's retention state: the highest deleted sequence and its last event's. */
interface TrimRow {
  name: string;
  trimmed_seq: number;
  top: number | null;
}

interface ChannelRow {
  name: string;
  epoch: string;
  seq: number;
  trimmed_seq: number;
}

function headOf(row: ChannelRow): ChannelHead {
  return { channel: row.name, epoch: row.epoch, seq: row.seq, trimmedSeq: row.trimmed_seq };
}

/** One caller's `append` or `appendWith`, waiting for the end of the turn. */
interface QueuedAppend {
  /** The events, or the write that gives them (`appendWith`), run inside the commit. */
  readonly events: readonly EventInput[] | AtomicWrite<unknown>;
  /** `append` with `resume`: events already stored are found, not stored again. */
  readonly resume: boolean;
  readonly resolve: (done: { value: unknown; stored: StoredEvent[] }) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The checkpoint thread's script. Compiled JavaScript only: under a TypeScript runner (the
 * tests run src) it does not exist, and SQLite's automatic checkpoint stays on.
 */
const CHECKPOINTER = new URL('./sqlite-checkpointer.js', import.meta.url);

/**
 * How often the worker copies the WAL into the database file. Often, so that a restart (for
 * which appends wait) has little left to copy. Bench `users` scenario, 10,000 user channels
 * in batches of 50, p99 <= 50 ms: every 1 s failed at 4,500-6,750 events/s on restart
 * pauses; every 200 ms passed up to 8,266; every 50 ms up to 10,000, where the core is full.
 */
const CHECKPOINT_INTERVAL_MS = 50;
/** SQLite's default `wal_autocheckpoint` (pages), restored when the worker is unavailable. */
const AUTOCHECKPOINT_PAGES = 1000;
/** WAL length (frames, one page each) from which the WAL is started over: 64 MiB of 4 KiB
 * pages, so the short pause of appends a restart costs comes every few seconds at 2,000
 * single-event publishes/s. */
const RESTART_FRAMES = 16_000;
/**
 * Events in the order they were stored (`pos`, an alias of the rowid), found by channel
 * through the unique index. A commit then appends its rows at the table's end and adds small
 * entries to the index: about 10 us of CPU per event less than a table clustered by
 * (channel, seq), where every event of a commit dirties a 4 KiB page of its own and the WAL
 * and the checkpoint copy each (10,000 user channels, commits of 50: bench/results/notebook.md).
 * Replays read each event's row by its position, a lookup in pages that recent writes keep
 * cached. An older file's clustered table is copied into this one when the store opens.
 */
const EVENTS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    pos INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    ts INTEGER NOT NULL,
    UNIQUE (channel, seq)
  );
  CREATE INDEX IF NOT EXISTS events_by_ts ON events (ts);
`;
/**
 * A retention sweep deletes in slices of this size (see `trim`), a turn of the event loop
 * between them: in one transaction a sweep over 10,000 channels holds the loop for 350-450 ms
 * (it looks up each channel's last event), enough to lift the p99 of 20,000 durable events/s
 * from 6.6 ms to 177 ms (bench/results/notebook.md).
 */
const TRIM_CHANNELS_PER_SLICE = 500;
const TRIM_ROWS_PER_SLICE = 2_000;
/** Known heads kept at most (about 100 bytes each); past it they are forgotten and re-read. */
const MAX_KNOWN_HEADS = 100_000;

/** Random bytes drawn in bulk: epoch candidates are needed often (one per channel per
 * commit, used only when the channel is new), and one randomBytes call each costs 3.9 % of
 * busy time. */
let pool = Buffer.alloc(0);
let offset = 0;

export function newEpoch(): string {
  if (offset + 6 > pool.length) {
    pool = randomBytes(6 * 512);
    offset = 0;
  }
  offset += 6;
  return pool.toString('base64url', offset - 6, offset);
}

/**
 * Free space on the database's file system below which the store is full: `ping` fails, so
 * `/readyz` turns 503 before commits start failing, not after. After a commit was refused for
 * lack of space, as much again must be freed before the store counts as writable: a few bytes
 * released by a rollback would only let the next commit fail too.
 */
const MIN_FREE_BYTES = 1 << 20;

export class SqliteStore implements Store {
  /** Stores with queued appends; one `setImmediate` per turn commits them all. */
  private static readonly waiting = new Set<SqliteStore>();
  private static commitScheduled = false;

  private readonly db: Database.Database;
  private statements!: ReturnType<SqliteStore['prepare']>;
  private queue: QueuedAppend[] = [];
  private checkpointer: Worker | undefined;
  /** Set while the checkpointer restarts the WAL: queued appends wait, the event loop runs. */
  private holding = false;
  private closing: Promise<void> | undefined;
  /** The database file, opened for the checkpoint thread's flushes (see `closeSyncFd`). */
  private syncFd: number | undefined;
  /**
   * The last sequence of each channel this connection appended to. A channel's head is the
   * higher of its row's `seq` (kept only by retention) and its last event, so appends write
   * the events alone: updating the channel's row as well would write a second page per
   * event to the WAL and an upsert per channel per commit (bench users scenario, 10,000 user
   * channels: bench/results/notebook.md). The known heads are right while no
   * other connection has committed since they were learnt, which `PRAGMA data_version` tells
   * (a checkpoint does not change it); otherwise they are forgotten and read again.
   */
  private readonly heads = new Map<string, number>();
  private headsVersion = -1;
  /** The sweep in progress, if any: sweeps run one after the other. */
  private trimming: Promise<unknown> = Promise.resolve();
  /** Free bytes when the last commit was refused for lack of space; cleared by a commit. */
  private refusedAtFree: number | undefined;

  constructor(private readonly options: SqliteStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
  }

  /** The open database, for other tables kept in the same file (inbox, API keys, ...). */
  get database(): Database.Database {
    return this.db;
  }

  async init(): Promise<void> {
    // Waiting for another process's lock first: workers of one machine open the file together.
    this.db.pragma('busy_timeout = 5000');
    const mode: unknown = this.db.pragma('journal_mode = WAL', { simple: true });
    this.db.pragma(`synchronous = ${this.options.fullSync ? 'FULL' : 'NORMAL'}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS channels (
        name TEXT PRIMARY KEY,
        epoch TEXT NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0,
        trimmed_seq INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
    `);
    this.db
      .transaction(() => {
        const clustered = this.eventsAreClustered();
        if (clustered) {
          // The index keeps its name through the rename: dropped, so the new table gets its own.
          this.db.exec('ALTER TABLE events RENAME TO events_clustered; DROP INDEX events_by_ts');
        }
        this.db.exec(EVENTS_SCHEMA);
        if (clustered) {
          this.db.exec(`
          INSERT INTO events (channel, seq, id, type, data, ts)
            SELECT channel, seq, id, type, data, ts FROM events_clustered ORDER BY ts, channel, seq;
          DROP TABLE events_clustered;
        `);
        }
      })
      .immediate(); // the write lock first: another connection may be opening the file too
    this.statements = this.prepare();
    if (this.options.checkpointedElsewhere) this.db.pragma('wal_autocheckpoint = 0');
    else if (mode === 'wal' && !this.db.memory && !this.checkpointer && existsSync(CHECKPOINTER)) {
      this.startCheckpointer();
    }
  }

  /** Whether the events table is the earlier one, clustered by (channel, seq). */
  private eventsAreClustered(): boolean {
    const sql = this.db
      .prepare<[], string>("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'")
      .pluck()
      .get();
    return sql !== undefined && /WITHOUT\s+ROWID/i.test(sql);
  }

  private prepare() {
    const db = this.db;
    const ensure = db.prepare<[string, string]>(
      'INSERT INTO channels (name, epoch) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
    );
    /** A channel's row, with its head: the higher of the recorded floor and its last event. */
    const head = db.prepare<[string], ChannelRow>(
      `SELECT name, epoch, trimmed_seq,
         max(seq, coalesce((SELECT max(seq) FROM events WHERE channel = name), 0)) AS seq
       FROM channels WHERE name = ?`,
    );
    return {
      ensure,
      head,
      /** Changes whenever another connection commits (not with checkpoints): see `heads`. */
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      insert: db.prepare<[string, number, string, string, string, number]>(
        'INSERT INTO events (channel, seq, id, type, data, ts) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      /** A stored event's sequence, by its time first: a few rows per millisecond to look at. */
      storedSeq: db
        .prepare<[number, string, string], number>(
          'SELECT seq FROM events INDEXED BY events_by_ts WHERE ts = ? AND id = ? AND channel = ?',
        )
        .pluck(),
      readAfter: db.prepare<[string, number, number], EventRow>(
        `SELECT channel, seq, id, type, data, ts FROM events
         WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      /** The oldest `limit` events older than `ts`, as the highest of them per channel. */
      oldSlice: db.prepare<[number, number], { channel: string; upto: number; n: number }>(
        `SELECT channel, max(seq) AS upto, count(*) AS n FROM (
           SELECT channel, seq FROM events WHERE ts < ? ORDER BY ts LIMIT ?)
         GROUP BY channel`,
      ),
      channelSlice: db.prepare<[string, number], TrimRow>(
        `SELECT name, trimmed_seq, (SELECT max(seq) FROM events WHERE channel = name) AS top
         FROM channels WHERE name > ? ORDER BY name LIMIT ?`,
      ),
      /** Records what retention deleted; the head is kept in `seq`, as the events that held it
       * may be gone. */
      setTrimmed: db.prepare<[{ upto: number; name: string }]>(
        `UPDATE channels SET trimmed_seq = max(trimmed_seq, @upto), seq = max(seq, @upto)
         WHERE name = @name`,
      ),
      deleteUpTo: db.prepare<[string, number]>('DELETE FROM events WHERE channel = ? AND seq <= ?'),
      appendGroup: db.transaction((group: readonly QueuedAppend[]) => this.appendAll(group)),
      /** Heads of several channels in one read transaction (they are of the same moment). */
      readHeads: db.transaction((channels: readonly string[]) =>
        channels.map((channel) => head.get(channel)),
      ),
      /** Heads of channels some of which have no row yet: made in one write transaction. */
      ensureHeads: db.transaction((channels: readonly string[]) =>
        channels.map((channel) => {
          ensure.run(channel, newEpoch());
          const row = head.get(channel);
          if (!row) throw new Error(`channel ${channel} vanished`);
          return headOf(row);
        }),
      ),
    };
  }

  async ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    SqliteStore.commitAll();
    const { head, readHeads, ensureHeads } = this.statements;
    // Every reconnect opens channels that exist: their heads are read first without a write
    // transaction (no write lock, nothing to commit), several in one read transaction so
    // that they are heads of the same moment. Only a missing row takes the write path. Both
    // transactions are made once (a better-sqlite3 transaction is several functions).
    const rows = channels.length === 1 ? [head.get(channels[0] ?? '')] : readHeads(channels);
    if (rows.every((row) => row !== undefined)) return rows.map(headOf);
    return ensureHeads(channels);
  }

  async append(events: readonly EventInput[], options?: AppendOptions): Promise<StoredEvent[]> {
    return (await this.enqueue(events, options?.resume === true)).stored;
  }

  /**
   * `write` runs inside the group commit of this turn, on this store's connection, before its
   * events are numbered: whatever it writes to other tables of the file (the inbox's rows)
   * commits or rolls back with them, in one transaction.
   */
  appendWith<T>(write: AtomicWrite<T>): Promise<{ value: T; stored: StoredEvent[] }> {
    return this.enqueue(write, false) as Promise<{ value: T; stored: StoredEvent[] }>;
  }

  private enqueue(
    events: QueuedAppend['events'],
    resume: boolean,
  ): Promise<{ value: unknown; stored: StoredEvent[] }> {
    if (this.closing) return Promise.reject(new Error('the SQLite store is closed'));
    return new Promise((resolve, reject) => {
      if (this.queue.push({ events, resume, resolve, reject }) > 1) return;
      SqliteStore.waiting.add(this);
      if (!SqliteStore.commitScheduled) {
        SqliteStore.commitScheduled = true;
        setImmediate(SqliteStore.commitAll);
      }
    });
  }

  /**
   * Commits the queued appends of every store in the process. Runs at the end of the turn and
   * first thing in the other methods, so a read, trim or ensureChannels sees every append
   * requested before it, as when `append` committed at once. Correctness does not need that
   * (an append that has not resolved may take effect later), but callers may: a loop of reads
   * that resolve at once never lets a `setImmediate` run, and would wait forever for appends
   * of another store on the same file (the contract suite's nodes). It costs a smaller group.
   */
  private static commitAll(this: void): void {
    SqliteStore.commitScheduled = false;
    for (const store of SqliteStore.waiting) store.commitQueued();
  }

  /** Commits this store's queued appends in one transaction and settles each caller. While the
   * WAL is restarted nothing commits, and reads see what was committed before. */
  private commitQueued(): void {
    const group = this.queue;
    if (group.length === 0 || this.holding) return;
    SqliteStore.waiting.delete(this);
    this.queue = [];
    try {
      const done = this.commitGroup(group);
      group.forEach((g, i) => g.resolve(done[i] ?? { value: undefined, stored: [] }));
    } catch (err) {
      // A lock held by another connection fails every caller alike, and each retry would
      // wait out busy_timeout again on the event loop: no retries then.
      if (group.length === 1 || isLockError(err)) {
        for (const g of group) g.reject(err);
        return;
      }
      // Otherwise one caller's events or write may be at fault (a constraint, a value SQLite
      // cannot bind): commit each caller alone so the others still succeed.
      for (const g of group) {
        try {
          g.resolve(this.commitGroup([g])[0] ?? { value: undefined, stored: [] });
        } catch (alone) {
          g.reject(alone);
        }
      }
    }
  }

  /** Commits one group of appends; on success the sequences it assigned become known heads. */
  private commitGroup(group: readonly QueuedAppend[]): { value: unknown; stored: StoredEvent[] }[] {
    // IMMEDIATE: the write lock is held from the start, so the data_version read first thing
    // covers every commit of another connection before this one.
    let result: { done: { value: unknown; stored: StoredEvent[] }[]; next: Map<string, number> };
    try {
      result = this.statements.appendGroup.immediate(group);
    } catch (err) {
      if (isDiskFullError(err)) this.refusedAtFree = this.freeBytes();
      throw err;
    }
    this.refusedAtFree = undefined;
    const { done, next } = result;
    if (this.heads.size > MAX_KNOWN_HEADS) this.heads.clear();
    for (const [channel, seq] of next) this.heads.set(channel, seq - 1);
    return done;
  }

  /**
   * Stores several callers' batches; runs inside one transaction. Each distinct channel's
   * next sequence comes from `heads` or, the first time, from one read, then one INSERT per
   * event, so numbers follow call order, then input order, and commit with everything else.
   * Nothing but the events is written: a channel's row only when the channel is new (see
   * `heads`). The writes of `appendWith` callers run first, in call order, and give their
   * events. A `resume` caller's events are looked up first; those found keep their sequence.
   * Returns each caller's value and stored events, and each channel's next sequence.
   */
  private appendAll(group: readonly QueuedAppend[]): {
    done: { value: unknown; stored: StoredEvent[] }[];
    next: Map<string, number>;
  } {
    const { ensure, head, insert, dataVersion, storedSeq } = this.statements;
    const version = dataVersion.get() ?? -1;
    if (version !== this.headsVersion) {
      this.heads.clear();
      this.headsVersion = version;
    }
    const values: unknown[] = [];
    const batches = group.map((g, i) => {
      if (typeof g.events !== 'function') return g.events;
      const w = g.events();
      values[i] = w.value;
      return w.events;
    });
    // Per resumed batch: the sequence of each event stored already (inside this transaction,
    // so no other writer can store it meanwhile).
    const found = group.some((g) => g.resume)
      ? group.map((g, i) =>
          g.resume ? batches[i]!.map((e) => storedSeq.get(e.ts, e.id, e.channel)) : undefined,
        )
      : undefined;
    // Per channel: the next sequence to assign.
    const next = new Map<string, number>();
    for (let i = 0; i < batches.length; i++) {
      const events = batches[i]!;
      for (let j = 0; j < events.length; j++) {
        const e = events[j]!;
        if (next.has(e.channel) || found?.[i]?.[j] !== undefined) continue;
        let last = this.heads.get(e.channel);
        if (last === undefined) {
          ensure.run(e.channel, newEpoch());
          last = head.get(e.channel)?.seq ?? 0;
        }
        next.set(e.channel, last + 1);
      }
    }
    const done = batches.map((events, i) => ({
      value: values[i],
      stored: events.map((e, j) => {
        const known = found?.[i]?.[j];
        if (known !== undefined)
          return { id: e.id, channel: e.channel, type: e.type, data: e.data, ts: e.ts, seq: known };
        const seq = next.get(e.channel) ?? 0;
        next.set(e.channel, seq + 1);
        insert.run(e.channel, seq, e.id, e.type, e.data, e.ts);
        // Spelled out: `{ ...e, seq }` allocates twice as much here (measured).
        return { id: e.id, channel: e.channel, type: e.type, data: e.data, ts: e.ts, seq };
      }),
    }));
    return { done, next };
  }

  async readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    SqliteStore.commitAll();
    return this.statements.readAfter.all(channel, after, limit);
  }

  /**
   * Retention in slices: each is one transaction of at most `trimChannelsPerSlice` channels
   * and about `trimRowsPerSlice` deleted events, and the event loop runs between them, so
   * appends and deliveries go on during a sweep of any size. A channel is always cut from its
   * oldest event on, so what a sweep stopped early (the store closing, an error) has deleted
   * is recorded in `trimmedSeq` like a whole sweep. Sweeps run one after the other.
   */
  trim(policy: RetentionPolicy, now: number): Promise<number> {
    const sweep = this.trimming.then(() => this.sweep(policy, now));
    this.trimming = sweep.catch(() => undefined);
    return sweep;
  }

  private async sweep(policy: RetentionPolicy, now: number): Promise<number> {
    SqliteStore.commitAll();
    const rows = this.options.trimRowsPerSlice ?? TRIM_ROWS_PER_SLICE;
    const channels = this.options.trimChannelsPerSlice ?? TRIM_CHANNELS_PER_SLICE;
    const s = this.statements;
    /** One slice: true when there is more to do. IMMEDIATE: it reads, then writes, and another
     * process's commit in between would make the write fail at once (SQLITE_BUSY_SNAPSHOT). */
    const transaction = this.db.transaction((work: () => boolean) => work());
    const slice = (work: () => boolean) => transaction.immediate(work);
    let deleted = 0;
    const cut = (channel: string, upto: number) => {
      s.setTrimmed.run({ upto, name: channel });
      deleted += s.deleteUpTo.run(channel, upto).changes;
    };
    /** One slice per turn while the store is open, each in its own transaction. */
    const sliced = (work: () => boolean) =>
      inTurns(() => !this.closing && this.db.open && slice(work));
    if (policy.maxAgeMs > 0) {
      // The oldest events first: a slice deletes them (and whatever precedes them in their
      // channels), so the next slice finds the next ones; a short slice was the last.
      await sliced(() => {
        let seen = 0;
        for (const r of s.oldSlice.all(now - policy.maxAgeMs, rows)) {
          cut(r.channel, r.upto);
          seen += r.n;
        }
        return seen === rows;
      });
    }
    if (policy.maxEvents > 0) {
      // Channels in name order; a channel whose cut is longer than what is left of the slice's
      // budget is cut that far, and the next slice starts at it again.
      let after = '';
      await sliced(() => {
        let budget = rows;
        const found = s.channelSlice.all(after, channels);
        for (const r of found) {
          const excess = r.top === null ? 0 : r.top - r.trimmed_seq - policy.maxEvents;
          if (excess > 0) {
            const k = Math.min(excess, budget);
            if (k === 0) return true;
            cut(r.name, r.trimmed_seq + k);
            budget -= k;
            if (k < excess) return true;
          }
          after = r.name;
        }
        return found.length === channels;
      });
    }
    return deleted;
  }

  /**
   * Rejects when the database does not answer, and when it cannot take writes: its file
   * system is (nearly) full, or the last commit was refused for lack of space and no room was
   * freed since. A read alone would say "ready" while every publish fails.
   */
  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
    if (this.db.memory) return;
    const free = this.freeBytes();
    const refused = this.refusedAtFree;
    if (free < MIN_FREE_BYTES || (refused !== undefined && free < refused + MIN_FREE_BYTES)) {
      throw Object.assign(new Error(`the SQLite disk is full (${free} bytes free)`), {
        code: 'SQLITE_FULL',
      });
    }
  }

  private freeBytes(): number {
    const fs = statfsSync(dirname(this.options.path));
    return fs.bavail * fs.bsize;
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.resume();
    await this.stopCheckpointer();
    if (!this.db.open) return this.closeSyncFd();
    try {
      // The worker has stopped: copy what it had not, so the file is complete on its own
      // (closing the last connection then deletes the WAL). PASSIVE: never waits for readers.
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } finally {
      this.db.close();
      this.closeSyncFd();
    }
  }

  /**
   * Closed only once this store's connection is: closing any descriptor of a file drops every
   * POSIX lock the process holds on it, SQLite's included, and another process could then
   * take the database as unused (SQLite's "How To Corrupt An SQLite Database File").
   */
  private closeSyncFd(): void {
    if (this.syncFd === undefined) return;
    closeSync(this.syncFd);
    this.syncFd = undefined;
  }

  /**
   * Moves WAL checkpoints to a worker thread with its own connection. Without the thread (it
   * failed to start, or died) SQLite's automatic checkpoint comes back, so the WAL can never
   * grow without bound.
   */
  private startCheckpointer(): void {
    const fallBack = (err: Error) => {
      if (this.checkpointer !== worker) return;
      this.checkpointer = undefined;
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      this.resume();
      this.options.onError?.(err);
    };
    this.syncFd ??= openSync(this.options.path, 'r');
    const workerData: CheckpointerData = {
      path: this.options.path,
      intervalMs: CHECKPOINT_INTERVAL_MS,
      restartFrames: RESTART_FRAMES,
      dbFd: this.syncFd,
    };
    const worker = new Worker(CHECKPOINTER, {
      workerData,
      // The process's own flags are not the thread's: `--input-type` keeps it from starting,
      // `--cpu-prof` would profile it too.
      execArgv: [],
    });
    worker.on('message', (report: CheckpointerReport) => this.onReport(worker, report));
    worker.on('error', fallBack);
    worker.on('exit', (code) => fallBack(new Error(`WAL checkpoint thread exited (${code})`)));
    this.checkpointer = worker;
    this.db.pragma('wal_autocheckpoint = 0');
  }

  /**
   * SQLite writes the WAL from its beginning again only after a checkpoint that copied all of
   * it, and a checkpoint on another thread never catches up with a connection that keeps
   * committing: the file would grow for as long as the writes go on. So once the WAL is long,
   * queued appends wait (the event loop does not) while the worker's RESTART copies the rest
   * (a few fsyncs), and the next commit writes the WAL from its start. Finishing the copy on
   * the event loop instead stalled it 10-28 ms each time on the shared test disk.
   */
  private onReport(worker: Worker, report: CheckpointerReport): void {
    // The thread keeps the process alive only while something waits for it: its start (so a
    // failure to start is always reported), a restart (appends wait for it) and close().
    const idle = () => {
      if (this.checkpointer === worker) worker.unref();
    };
    if (report === 'ready') return idle();
    if (report === 'restart-done') {
      idle();
      return this.resume();
    }
    if (!this.holding && !this.closing) {
      this.holding = true;
      worker.ref();
      worker.postMessage('restart' satisfies CheckpointerCommand);
    }
  }

  private resume(): void {
    this.holding = false;
    this.commitQueued();
  }

  private async stopCheckpointer(): Promise<void> {
    const worker = this.checkpointer;
    if (!worker) return;
    this.checkpointer = undefined;
    worker.ref();
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('stop' satisfies CheckpointerCommand);
    await exited;
  }
}

/** SQLITE_BUSY / SQLITE_LOCKED and their extended codes: another connection holds a lock. */
function isLockError(err: unknown): boolean {
  return err instanceof Database.SqliteError && /^SQLITE_(BUSY|LOCKED)/.test(err.code);
}
