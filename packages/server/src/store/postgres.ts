import { randomBytes } from 'node:crypto';
import { Pool, escapeIdentifier } from 'pg';
import { type Migration, applyMigrations, inTransaction, lockSchemaSetup } from './pg-schema.js';
import type {
  AppendOptions,
  ChannelHead,
  EventInput,
  RetentionPolicy,
  Store,
  StoredEvent,
} from './store.js';

/**
 * The clustered store: PostgreSQL, shared by every node.
 *
 * Sequences are assigned by an upsert on the channel's row inside the transaction that also
 * inserts the events. The upsert takes the row lock and keeps it until commit, so a second
 * append to the same channel (from this node or any other) waits, then sees the incremented
 * sequence: a later sequence can never commit before an earlier one, and "everything after my
 * position" stays lossless. A batch that touches several channels locks them in one sorted
 * order, so two batches can never wait on each other in a cycle (deadlock).
 */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  readonly connectionString: string;
  /** Most connections this node opens. Default 10. */
  readonly poolSize?: number;
  /** Schema holding Herald's tables; created when missing. Default 'public'. */
  readonly schema?: string;
  /** Called with errors of idle pooled connections (the next query reconnects). */
  readonly onError?: (err: Error) => void;
}

interface EventRow {
  channel: string;
  seq: string;
  id: string;
  type: string;
  data: string;
  ts: string;
}

interface ChannelRow {
  name: string;
  epoch: string;
  seq: string;
  trimmed_seq: string;
}

/** First key of the advisory lock that serializes migrations (the second is the schema). */
const MIGRATION_LOCK = 0x4852_4c44; // "HRLD"

/** Table names already quoted and qualified with the schema. */
interface Tables {
  readonly migrations: string;
  readonly channels: string;
  readonly events: string;
  readonly schema: string;
}

/**
 * Migrations in order; each runs once per schema, inside the transaction that records it.
 * Never edit a migration that has shipped: add the next one.
 */
const MIGRATIONS: readonly Migration<Tables>[] = [
  {
    version: 1,
    name: 'channels and events',
    // bigint: a busy channel can pass 2^31 sequences, and ts is in milliseconds.
    sql: (t) => `
      CREATE TABLE ${t.channels} (
        name text PRIMARY KEY,
        epoch text NOT NULL,
        seq bigint NOT NULL DEFAULT 0,
        trimmed_seq bigint NOT NULL DEFAULT 0
      );
      CREATE TABLE ${t.events} (
        channel text NOT NULL,
        seq bigint NOT NULL,
        id text NOT NULL,
        type text NOT NULL,
        data text NOT NULL,
        ts bigint NOT NULL,
        PRIMARY KEY (channel, seq)
      );
      -- Retention by age scans old rows only.
      CREATE INDEX events_by_ts ON ${t.events} (ts);
    `,
  },
  // The notification inbox keeps its tables in this schema too, with migrations of its own
  // (src/inbox/postgres.ts, table herald_inbox_migrations).
];

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class PostgresStore implements Store {
  private readonly pool: Pool;
  private readonly t: Tables;
  private readonly schema: string;
  /** Operations in flight, so `close` lets them finish before ending the pool. */
  private readonly pending = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public';
    // The schema comes from configuration, but it is spliced into SQL: accept only plain
    // identifiers so no value can change the statement.
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(this.schema)) {
      throw new Error(`invalid PostgreSQL schema name "${this.schema}"`);
    }
    const s = escapeIdentifier(this.schema);
    this.t = {
      schema: s,
      migrations: `${s}.herald_migrations`,
      channels: `${s}.channels`,
      events: `${s}.events`,
    };
    this.pool = new Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      // An unreachable database fails the request (503) instead of queueing it forever.
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      application_name: 'herald',
    });
    // Without a listener an idle connection dropped by the server would crash the process.
    this.pool.on('error', (err) => options.onError?.(err));
    // pg-pool listens for errors of idle clients only. A client checked out with
    // pool.connect() (a transaction here, and the stores that share this pool) whose
    // connection the server ends between two queries (a restart, an admin shutdown) would
    // emit 'error' with no listener, which crashes the process. So every client keeps a
    // listener for its whole life: the next query on it fails, the caller releases it
    // broken, and pg-pool drops it. (Idle clients' errors still reach the pool's listener.)
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  async init(): Promise<void> {
    return this.track(() =>
      inTransaction(this.pool, async (client) => {
        await lockSchemaSetup(client, MIGRATION_LOCK, this.schema);
        const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
          this.schema,
        ]);
        // Only create a missing schema: CREATE SCHEMA checks the privilege even when the
        // schema exists, and 'public' usually does.
        if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${this.t.schema}`);
        await applyMigrations(client, this.t.migrations, MIGRATIONS, this.t);
      }),
    );
  }

  /** The pool, for other tables kept in the same database (inbox, API keys, ...). */
  get sharedPool(): Pool {
    return this.pool;
  }

  /** The schema name (validated, unquoted) the store's tables live in. */
  get schemaName(): string {
    return this.schema;
  }

  /** The highest migration applied to this schema. */
  async schemaVersion(): Promise<number> {
    return this.track(async () => {
      const r = await this.pool.query<{ v: number | null }>(
        `SELECT max(version) AS v FROM ${this.t.migrations}`,
      );
      return r.rows[0]?.v ?? 0;
    });
  }

  async ensureChannels(channels: readonly string[]): Promise<ChannelHead[]> {
    if (channels.length === 0) return [];
    return this.track(async () => {
      // Sorted like append's locks: new rows are inserted (and their keys locked) in the same
      // order, so this statement and a running append cannot wait on each other in a cycle.
      const names = [...new Set(channels)].sort();
      await this.pool.query(
        `INSERT INTO ${this.t.channels} (name, epoch)
         SELECT name, epoch FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(name, epoch, i)
         ORDER BY i
         ON CONFLICT (name) DO NOTHING`,
        [names, names.map(() => newEpoch())],
      );
      // A second statement, so its snapshot includes rows a concurrent node inserted first.
      const { rows } = await this.pool.query<ChannelRow>(
        `SELECT name, epoch, seq, trimmed_seq FROM ${this.t.channels} WHERE name = ANY($1::text[])`,
        [names],
      );
      const byName = new Map(rows.map((r) => [r.name, r]));
      return channels.map((channel) => {
        const row = byName.get(channel);
        if (!row) throw new Error(`channel ${channel} vanished`);
        return {
          channel,
          epoch: row.epoch,
          seq: Number(row.seq),
          trimmedSeq: Number(row.trimmed_seq),
        };
      });
    });
  }

  /**
   * One statement, so one round trip and an implicit transaction: the first CTE reserves a
   * block of sequences per channel (rows upserted in sorted order, so concurrent appends
   * cannot deadlock, and locked until the statement commits, which orders commits by
   * sequence); the second inserts the events numbered inside those blocks. Data-modifying
   * CTEs always run to completion, and either both inserts commit or neither does.
   */
  async append(events: readonly EventInput[], options?: AppendOptions): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    if (options?.resume) return this.track(() => this.appendResumed(events));
    return this.track(async () => {
      const counts = new Map<string, number>();
      for (const e of events) counts.set(e.channel, (counts.get(e.channel) ?? 0) + 1);
      const names = [...counts.keys()].sort();
      const { rows } = await this.pool.query<{ name: string; seq: string }>(
        `WITH reserved AS (
           INSERT INTO ${this.t.channels} AS c (name, epoch, seq)
           SELECT name, epoch, n FROM unnest($1::text[], $2::text[], $3::bigint[])
             WITH ORDINALITY AS u(name, epoch, n, i)
           ORDER BY i
           ON CONFLICT (name) DO UPDATE SET seq = c.seq + excluded.seq
           RETURNING name, seq
         ), numbered AS (
           SELECT e.channel, e.id, e.type, e.data, e.ts,
                  row_number() OVER (PARTITION BY e.channel ORDER BY e.i) AS k,
                  count(*) OVER (PARTITION BY e.channel) AS n
           FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
             WITH ORDINALITY AS e(channel, id, type, data, ts, i)
         ), stored AS (
           INSERT INTO ${this.t.events} (channel, seq, id, type, data, ts)
           SELECT x.channel, r.seq - x.n + x.k, x.id, x.type, x.data, x.ts
           FROM numbered x JOIN reserved r ON r.name = x.channel
         )
         SELECT name, seq FROM reserved`,
        [
          names,
          names.map(() => newEpoch()),
          names.map((n) => counts.get(n) ?? 0),
          events.map((e) => e.channel),
          events.map((e) => e.id),
          events.map((e) => e.type),
          events.map((e) => e.data),
          events.map((e) => e.ts),
        ],
      );
      // The same numbering as the statement's: each channel's events, in input order, take
      // the block that ends at the reserved head.
      const next = new Map<string, number>();
      for (const r of rows) next.set(r.name, Number(r.seq) - (counts.get(r.name) ?? 0) + 1);
      return events.map((e) => {
        const seq = next.get(e.channel);
        if (seq === undefined) throw new Error(`no sequence reserved for ${e.channel}`);
        next.set(e.channel, seq + 1);
        return { id: e.id, channel: e.channel, type: e.type, data: e.data, ts: e.ts, seq };
      });
    });
  }

  /**
   * `append` with `resume`, also one statement: `found` looks each event up by its time (the
   * `events_by_ts` index), id and channel; only the others reserve sequences and are
   * inserted, numbered as in `append`. Answers every input's sequence by its position.
   */
  private async appendResumed(events: readonly EventInput[]): Promise<StoredEvent[]> {
    const names = [...new Set(events.map((e) => e.channel))].sort();
    const { rows } = await this.pool.query<{ i: string; seq: string }>(
      `WITH input AS (
         SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           WITH ORDINALITY AS e(channel, id, type, data, ts, i)
       ), found AS (
         SELECT x.i, s.seq FROM input x
         JOIN ${this.t.events} s ON s.ts = x.ts AND s.id = x.id AND s.channel = x.channel
       ), fresh AS (
         SELECT x.*, row_number() OVER (PARTITION BY x.channel ORDER BY x.i) AS k,
                count(*) OVER (PARTITION BY x.channel) AS n
         FROM input x WHERE x.i NOT IN (SELECT i FROM found)
       ), reserved AS (
         INSERT INTO ${this.t.channels} AS c (name, epoch, seq)
         SELECT u.name, u.epoch, f.n
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(name, epoch, o)
         JOIN (SELECT DISTINCT channel, n FROM fresh) f ON f.channel = u.name
         ORDER BY u.o
         ON CONFLICT (name) DO UPDATE SET seq = c.seq + excluded.seq
         RETURNING name, seq
       ), stored AS (
         INSERT INTO ${this.t.events} (channel, seq, id, type, data, ts)
         SELECT x.channel, r.seq - x.n + x.k, x.id, x.type, x.data, x.ts
         FROM fresh x JOIN reserved r ON r.name = x.channel
       )
       SELECT i, seq FROM found
       UNION ALL
       SELECT x.i, r.seq - x.n + x.k FROM fresh x JOIN reserved r ON r.name = x.channel`,
      [
        names,
        names.map(() => newEpoch()),
        events.map((e) => e.channel),
        events.map((e) => e.id),
        events.map((e) => e.type),
        events.map((e) => e.data),
        events.map((e) => e.ts),
      ],
    );
    const seqs = new Map(rows.map((r) => [Number(r.i), Number(r.seq)]));
    return events.map((e, at) => {
      const seq = seqs.get(at + 1);
      if (seq === undefined) throw new Error(`no sequence for event ${e.id}`);
      return { id: e.id, channel: e.channel, type: e.type, data: e.data, ts: e.ts, seq };
    });
  }

  async readAfter(channel: string, after: number, limit: number): Promise<StoredEvent[]> {
    return this.track(async () => {
      const { rows } = await this.pool.query<EventRow>(
        `SELECT channel, seq, id, type, data, ts FROM ${this.t.events}
         WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [channel, after, limit],
      );
      return rows.map((r) => ({
        channel: r.channel,
        seq: Number(r.seq),
        id: r.id,
        type: r.type,
        data: r.data,
        ts: Number(r.ts),
      }));
    });
  }

  async trim(policy: RetentionPolicy, now: number): Promise<number> {
    return this.track(async () => {
      const upto = new Map<string, number>();
      const cutAt = (channel: string, seq: number) =>
        upto.set(channel, Math.max(seq, upto.get(channel) ?? 0));
      if (policy.maxAgeMs > 0) {
        // The highest old sequence: retention deletes a prefix of the channel, so a cursor
        // is either still complete or detectably expired.
        const old = await this.pool.query<{ channel: string; upto: string }>(
          `SELECT channel, max(seq) AS upto FROM ${this.t.events} WHERE ts < $1 GROUP BY channel`,
          [now - policy.maxAgeMs],
        );
        for (const r of old.rows) cutAt(r.channel, Number(r.upto));
      }
      if (policy.maxEvents > 0) {
        const over = await this.pool.query<{ name: string; upto: string }>(
          `SELECT name, seq - $1 AS upto FROM ${this.t.channels} WHERE seq - trimmed_seq > $1`,
          [policy.maxEvents],
        );
        for (const r of over.rows) cutAt(r.name, Number(r.upto));
      }
      let deleted = 0;
      // One short statement per channel: it locks that channel's row only, so retention never
      // holds up appends to other channels and cannot deadlock with them.
      for (const [channel, seq] of [...upto].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const r = await this.pool.query(
          `WITH mark AS (
             UPDATE ${this.t.channels} SET trimmed_seq = GREATEST(trimmed_seq, $2) WHERE name = $1
           )
           DELETE FROM ${this.t.events} WHERE channel = $1 AND seq <= $2`,
          [channel, seq],
        );
        deleted += r.rowCount ?? 0;
      }
      return deleted;
    });
  }

  async ping(): Promise<void> {
    return this.track(async () => {
      await this.pool.query('SELECT 1');
    });
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.pending]);
      await this.pool.end();
    })();
    return this.closing;
  }

  /** Runs an operation unless the store is closing, and remembers it until it settles. */
  private track<T>(op: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new Error('PostgreSQL store is closed'));
    const p = op();
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
    return p;
  }
}
