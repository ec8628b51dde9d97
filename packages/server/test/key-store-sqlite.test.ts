import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteKeyStore } from '../src/keys/sqlite.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { keyStoreContract } from './key-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-keys-'));
keyStoreContract(
  'SqliteKeyStore',
  async () => {
    const store = new SqliteStore({ path: join(dir, 'herald.db') });
    await store.init();
    const keys = new SqliteKeyStore(store.database);
    await keys.init();
    return { keys, close: () => store.close() };
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);
