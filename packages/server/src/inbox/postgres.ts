import { escapeIdentifier, type Pool, type QueryResult } from 'pg';
import {
  type Migration,
  applyMigrations,
  inTransaction,
  lockSchemaSetup,
} from '../store/pg-schema.js';
import { toPg } from './sql/queries.js';
import { SqlInbox, driveAsync, type Program, type SqlRunner, type Step } from './sql/store.js';

function answer(step: Step, r: QueryResult): unknown {
  return step.kind === 'rows' ? r.rows : (r.rowCount ?? 0);
}

/** Runs inbox programs on the event store's pool; atomic ones on one client in a transaction. */
class PgRunner implements SqlRunner {
  constructor(private readonly pool: Pool) {}

  async run<T>(program: Program<T>, atomic: boolean): Promise<T> {
    if (!atomic) {
      return driveAsync(program, async (s) =>
        answer(s, await this.pool.query(toPg(s.sql), [...s.params])),
      );
    }
    return inTransaction(this.pool, (client) =>
      driveAsync(program, async (s) => answer(s, await client.query(toPg(s.sql), [...s.params]))),
    );
  }
}

/** First key of the advisory lock that serializes inbox migrations ("HBX0"). */
const MIGRATION_LOCK = 0x4842_5830;

interface Tables {
  readonly schema: string;
  readonly migrations: string;
  readonly notifications: string;
  readonly state: string;
  readonly templates: string;
  readonly preferences: string;
  readonly sends: string;
}

/**
 * Inbox migrations, in order; each runs once per schema inside the transaction that records
 * it (in its own table, so the event store's migrations stay independent). Never edit one
 * that has shipped: add the next.
 */
const MIGRATIONS: readonly Migration<Tables>[] = [
  {
    version: 1,
    name: 'inbox',
    // ids compare bytewise (COLLATE "C"): pages are merged and continued by (created_at, id)
    // in code too, which must agree with the index order whatever the database's locale.
    sql: (t) => `
      CREATE TABLE ${t.notifications} (
        id text COLLATE "C" PRIMARY KEY,
        owner text NOT NULL,
        title text NOT NULL,
        body text NOT NULL,
        data text,
        category text,
        priority text NOT NULL,
        severity text,
        url text,
        template text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        expires_at bigint,
        deliver_at bigint,
        status text NOT NULL,
        claimed_until bigint,
        event_type text NOT NULL,
        durable boolean NOT NULL,
        muted boolean NOT NULL DEFAULT false,
        collapse_key text,
        collapsed_count integer NOT NULL DEFAULT 0,
        dedup_key text,
        read_at bigint,
        seen_at bigint,
        acked_at bigint,
        acked_by text,
        archived_at bigint
      );
      CREATE INDEX inbox_by_owner_time ON ${t.notifications} (owner, created_at, id);
      CREATE INDEX inbox_unread ON ${t.notifications} (owner, category, seen_at, expires_at)
        WHERE read_at IS NULL AND archived_at IS NULL AND status = 'delivered';
      CREATE INDEX inbox_unacked ON ${t.notifications} (owner, severity, expires_at)
        WHERE acked_at IS NULL AND severity IS NOT NULL AND archived_at IS NULL
          AND status = 'delivered';
      CREATE INDEX inbox_due ON ${t.notifications} (deliver_at) WHERE status = 'scheduled';
      CREATE INDEX inbox_collapse ON ${t.notifications} (owner, collapse_key, created_at, id)
        WHERE collapse_key IS NOT NULL;
      CREATE INDEX inbox_dedup ON ${t.notifications} (owner, dedup_key, created_at, id)
        WHERE dedup_key IS NOT NULL;
      CREATE INDEX inbox_by_time ON ${t.notifications} (created_at);
      CREATE INDEX inbox_expiring ON ${t.notifications} (expires_at)
        WHERE expires_at IS NOT NULL;
      CREATE TABLE ${t.state} (
        user_id text NOT NULL,
        notification_id text COLLATE "C" NOT NULL,
        read_at bigint,
        seen_at bigint,
        acked_at bigint,
        acked_by text,
        archived_at bigint,
        deleted_at bigint,
        PRIMARY KEY (user_id, notification_id)
      );
      CREATE INDEX inbox_user_state_by_notification ON ${t.state} (notification_id);
      CREATE TABLE ${t.templates} (
        name text PRIMARY KEY,
        spec text NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE TABLE ${t.preferences} (
        user_id text PRIMARY KEY,
        spec text NOT NULL,
        updated_at bigint NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'applied sends',
    // One row per send made under an Idempotency-Key, written with its notifications.
    sql: (t) => `
      CREATE TABLE ${t.sends} (
        send_key text PRIMARY KEY,
        outcomes text NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE INDEX inbox_sends_by_time ON ${t.sends} (created_at);
    `,
  },
];

/**
 * The clustered inbox, in the event store's PostgreSQL schema and pool. Same indexes as
 * the SQLite backend (see sqlite.ts); storm control takes an advisory lock per key so
 * nodes creating with the same dedup or collapse key at once see each other's rows, and
 * the scheduler claims due rows with SKIP LOCKED so nodes share the work.
 */
export class PostgresInbox extends SqlInbox {
  private readonly tables: Tables;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
  ) {
    const s = escapeIdentifier(schema);
    const tables: Tables = {
      schema: s,
      migrations: `${s}.herald_inbox_migrations`,
      notifications: `${s}.inbox_notifications`,
      state: `${s}.inbox_user_state`,
      templates: `${s}.inbox_templates`,
      preferences: `${s}.inbox_preferences`,
      sends: `${s}.inbox_sends`,
    };
    super(new PgRunner(pool), tables, 'postgres', schema);
    this.tables = tables;
  }

  async init(): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await lockSchemaSetup(client, MIGRATION_LOCK, this.schema);
      await applyMigrations(client, this.tables.migrations, MIGRATIONS, this.tables);
    });
  }
}
