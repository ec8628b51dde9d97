import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ChannelHead, EventInput, RetentionPolicy, Store, StoredEvent } from './store.js';

/**
 * The embedded default store: one SQLite file in WAL mode.
 *
 * SQLite has a single writer, and better-sqlite3 runs each transaction synchronously, so a
 * channel's sequence is assigned and committed before any other append can start: sequence
 * order is commit order without further locking. `synchronous=NORMAL` in WAL mode survives a
 * process crash (what the restart tests exercise); set `fullSync` to survive power loss too.
 */
export interface SqliteStoreOptions {
  /** Database file; ':memory:' for a throwaway store. */
  readonly path: string;
  /** fsync on every commit (survives power loss; slower). Default false. */
  readonly fullSync?: boolean;
}

interface EventRow {
  channel: string;
  seq: number;
  id: string;
  type: string;
  data: string;
  ts: number;
}

interface ChannelRow {
  name: string;
  epoch: string;
  seq: number;
  trimmed_seq: number;
}

/** Random bytes drawn in bulk: `append` needs an epoch candidate per event (used only when the
 * channel is new), and one randomBytes call per event was 3.9 % of busy time. */
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

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private statements!: ReturnType<SqliteStore['prepare']>;

  constructor(private readonly options: SqliteStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
  }

  /** The open database, for other tables kept in the same file (inbox, API keys, ...). */
  get database(): Database.Database {
    return this.db;
  }

  async init(): Promise<void> {
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${this.options.fullSync ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS channels (
        name TEXT PRIMARY KEY,
        epoch TEXT NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0,
        trimmed_seq INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS events (
        channel TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (channel, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS events_by_ts ON events (ts);
    `);
    this.statements = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      ensure: db.prepare<[string, string]>(
        'INSERT INTO channels (name, epoch) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
      ),
      head: db.prepare<[string], ChannelRow>(
        'SELECT name, epoch, seq, trimmed_seq FROM channels WHERE name = ?',
      ),
      nextSeq: db.prepare<[string, string], { seq: number }>(
        `INSERT INTO channels (name, epoch, seq) VALUES (?, ?, 1)
         ON CONFLICT (name) DO UPDATE SET seq = seq + 1 RETURNING seq`,
      ),
      insert: db.prepare<[string, number, string, string, string, number]>(
        'INSERT INTO events (channel, seq, id, type, data, ts) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      readAfter: db.prepare<[string, number, number], EventRow>(
        `SELECT channel, seq, id, type, data, ts FROM events
         WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      oldByChannel: db.prepare<[number], { channel: string; upto: number }>(
        'SELECT channel, max(seq) AS upto FROM events WHERE ts < ? GROUP BY channel',
      ),
      overCount: db.prepare<[{ n: number }], { name: string; upto: number }>(
        'SELECT name, seq - @n AS upto FROM channels WHERE seq - trimmed_seq > @n',
      ),
      setTrimmed: db.prepare<[number, string]>(
        'UPDATE channels SET trimmed_seq = max(trimmed_seq, ?) WHERE name = ?',
      ),
      deleteUpTo: db.prepare<[string, number]>('DELETE FROM events WHERE channel = ? AND seq <= ?'),
    };
  }

  async ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    const { ensure, head } = this.statements;
    return this.db.transaction(() =>
      channels.map((channel) => {
        ensure.run(channel, newEpoch());
        const row = head.get(channel);
        if (!row) throw new Error(`channel ${channel} vanished`);
        return { channel, epoch: row.epoch, seq: row.seq, trimmedSeq: row.trimmed_seq };
      }),
    )();
  }

  async append(events: readonly EventInput[]): Promise<StoredEvent[]> {
    const { nextSeq, insert } = this.statements;
    return this.db.transaction(() =>
      events.map((e) => {
        const row = nextSeq.get(e.channel, newEpoch());
        if (!row) throw new Error('sequence not assigned');
        insert.run(e.channel, row.seq, e.id, e.type, e.data, e.ts);
        return { ...e, seq: row.seq };
      }),
    )();
  }

  async readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    return this.statements.readAfter.all(channel, after, limit);
  }

  async trim(policy: RetentionPolicy, now: number): Promise<number> {
    const s = this.statements;
    return this.db.transaction(() => {
      let deleted = 0;
      const cut = (channel: string, upto: number) => {
        s.setTrimmed.run(upto, channel);
        deleted += s.deleteUpTo.run(channel, upto).changes;
      };
      if (policy.maxAgeMs > 0) {
        for (const r of s.oldByChannel.all(now - policy.maxAgeMs)) cut(r.channel, r.upto);
      }
      if (policy.maxEvents > 0) {
        for (const r of s.overCount.all({ n: policy.maxEvents })) cut(r.name, r.upto);
      }
      return deleted;
    })();
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
