import { PostgresDeliveryStore } from '../src/delivery/postgres.js';
import { PostgresStore } from '../src/store/postgres.js';
import { deliveryStoreContract } from './delivery-store-contract.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';

// A real PostgreSQL server: a missing one fails the suite, it is never skipped.
const schema = uniqueSchema('herald_delivery_test');

deliveryStoreContract(
  'PostgresDeliveryStore',
  async () => {
    const store = new PostgresStore({ connectionString: PG_URL, schema, poolSize: 3 });
    await store.init();
    return {
      store: new PostgresDeliveryStore(store.sharedPool, store.schemaName),
      close: () => store.close(),
    };
  },
  () => dropSchema(schema),
);
