import Database from 'better-sqlite3';
import { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';
import type { InboxStore } from './inbox-store.js';
import { PostgresInbox } from './postgres.js';
import { SqliteInbox } from './sqlite.js';

/**
 * The inbox store beside an event store: the same SQLite file or the same PostgreSQL
 * schema and pool. A custom event store (tests, embedding) gets an in-memory SQLite inbox:
 * it works, but does not survive a restart.
 */
export function inboxStoreBeside(store: unknown): InboxStore {
  if (store instanceof SqliteStore) return new SqliteInbox(store.database);
  if (store instanceof PostgresStore) return new PostgresInbox(store.sharedPool, store.schemaName);
  return new SqliteInbox(new Database(':memory:'));
}
