import { PostgresKeyStore } from '../src/keys/postgres.js';
import { PostgresStore } from '../src/store/postgres.js';
import { keyStoreContract } from './key-store-contract.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

// A real PostgreSQL server: a missing one fails the suite, it is never skipped.
const schema = uniqueSchema('herald_keys');
keyStoreContract(
  'PostgresKeyStore',
  async () => {
    const store = new PostgresStore({ connectionString: PG_URL, schema, poolSize: 2 });
    await store.init();
    const keys = new PostgresKeyStore(store.sharedPool, store.schemaName);
    await keys.init();
    return { keys, close: () => store.close() };
  },
  () => dropSchema(schema),
);
