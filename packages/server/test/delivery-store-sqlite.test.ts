import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDeliveryStore } from '../src/delivery/sqlite.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { deliveryStoreContract } from './delivery-store-contract.js';

// One database file; every store is its own connection to it, as processes sharing one file.
const dir = mkdtempSync(join(tmpdir(), 'herald-delivery-'));
const path = join(dir, 'herald.db');

deliveryStoreContract(
  'SqliteDeliveryStore',
  async () => {
    const store = new SqliteStore({ path });
    await store.init();
    return { store: new SqliteDeliveryStore(store.database), close: () => store.close() };
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);
