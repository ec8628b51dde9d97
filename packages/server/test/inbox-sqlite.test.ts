import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteInbox } from '../src/inbox/sqlite.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { inboxContract } from './inbox-contract.js';

// One database file for the suite; every inbox is its own connection to it (through an
// event store, as the server opens it), as several processes sharing one file would be.
const dir = mkdtempSync(join(tmpdir(), 'herald-inbox-'));
const path = join(dir, 'herald.db');

inboxContract(
  'SqliteInbox',
  async () => {
    const store = new SqliteStore({ path });
    await store.init();
    return { inbox: new SqliteInbox(store.database), close: () => store.close() };
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);
