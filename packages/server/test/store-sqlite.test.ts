import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { storeContract } from './store-contract.js';

// One database file for the suite; every store is its own connection to it, as several
// processes sharing one file would be.
const dir = mkdtempSync(join(tmpdir(), 'herald-store-'));
const path = join(dir, 'herald.db');

storeContract(
  'SqliteStore',
  async () => new SqliteStore({ path }),
  async () => rmSync(dir, { recursive: true, force: true }),
);
