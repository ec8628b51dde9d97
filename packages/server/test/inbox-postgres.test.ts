import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresInbox } from '../src/inbox/postgres.js';
import { PostgresStore } from '../src/store/postgres.js';
import { inboxContract } from './inbox-contract.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

// A real PostgreSQL server: a missing one fails the suite, it is never skipped.
const url = PG_URL;

/** A schema of this run's own, dropped afterwards, so test files can run in parallel. */
const schema = uniqueSchema('herald_inbox_test');

async function query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** Opens the inbox the way the server does: beside an event store, sharing its pool. */
async function open(): Promise<{ inbox: PostgresInbox; close(): Promise<void> }> {
  const store = new PostgresStore({ connectionString: url, schema, poolSize: 3 });
  await store.init();
  return {
    inbox: new PostgresInbox(store.sharedPool, store.schemaName),
    close: () => store.close(),
  };
}

inboxContract('PostgresInbox', open, async () => {
  await dropSchema(schema);
});

describe('PostgresInbox', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('records its migrations apart from the event store and has the indexes a large inbox needs', async () => {
    const nodes = await Promise.all([open(), open()]);
    closers.push(...nodes.map((n) => () => n.close()));
    await Promise.all(nodes.map((n) => n.inbox.init()));
    const q = pg.escapeIdentifier(schema);
    const migrations = await query(`SELECT version FROM ${q}.herald_inbox_migrations`);
    expect(migrations.rows).toEqual([{ version: 1 }, { version: 2 }]);
    const events = await query(`SELECT version FROM ${q}.herald_migrations`);
    expect(events.rows).toEqual([{ version: 1 }]);
    const idx = await query('SELECT indexname FROM pg_indexes WHERE schemaname = $1', [schema]);
    expect(idx.rows.map((r: { indexname: string }) => r.indexname)).toEqual(
      expect.arrayContaining([
        'inbox_by_owner_time',
        'inbox_unread',
        'inbox_unacked',
        'inbox_due',
        'inbox_sends_by_time',
      ]),
    );
  });
});
