import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres.js';
import { dropSchema, PG_URL, uniqueSchema } from './pg-helpers.js';
import { storeContract } from './store-contract.js';

const url = PG_URL;
const schema = uniqueSchema('herald_test');
storeContract(
  'PostgresStore',
  async () => new PostgresStore({ connectionString: url, schema, poolSize: 4 }),
  () => dropSchema(schema),
);

describe('PostgresStore', () => {
  const stores: PostgresStore[] = [];
  const schemas: string[] = [];
  const make = (options: Partial<ConstructorParameters<typeof PostgresStore>[0]> = {}) => {
    const s = new PostgresStore({ connectionString: url, poolSize: 2, ...options });
    stores.push(s);
    return s;
  };

  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    for (const s of schemas) await dropSchema(s);
  });

  it('records applied migrations once, whichever node runs init', async () => {
    const schema = uniqueSchema('herald_test');
    schemas.push(schema);
    const nodes = [make({ schema }), make({ schema }), make({ schema })];
    await Promise.all(nodes.map((s) => s.init()));
    await nodes[1]!.init();
    expect(await nodes[2]!.schemaVersion()).toBe(1);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const r = await client.query(
        `SELECT version FROM ${pg.escapeIdentifier(schema)}.herald_migrations`,
      );
      expect(r.rows).toEqual([{ version: 1 }]);
      const idx = await client.query('SELECT indexname FROM pg_indexes WHERE schemaname = $1', [
        schema,
      ]);
      expect(idx.rows.map((row) => row.indexname)).toContain('events_by_ts');
    } finally {
      await client.end();
    }
  });

  it('survives the server ending a checked-out connection between two queries', async () => {
    const schema = uniqueSchema('herald_test');
    schemas.push(schema);
    const s = make({ schema });
    await s.init();
    // What a database restart does to a transaction between two statements: without an
    // 'error' listener on the checked-out client, this would crash the process.
    const client = await s.sharedPool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    } finally {
      await admin.end();
    }
    await expect(client.query('SELECT 1')).rejects.toThrow();
    client.release(true);
    await s.ping();
  });

  it('refuses a schema name that is not a plain identifier', () => {
    expect(() => make({ schema: 'x"; DROP TABLE events; --' })).toThrow(/schema/);
  });

  it('rejects, instead of hanging, when the database is unreachable', async () => {
    // A port that was just free: connections are refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const s = make({ connectionString: `postgres://postgres@127.0.0.1:${port}/test` });
    await expect(s.init()).rejects.toThrow();
    await expect(s.ping()).rejects.toThrow();
    await expect(
      s.append([{ id: 'x', channel: 'c', type: 't', data: '', ts: 0 }]),
    ).rejects.toThrow();
    await s.close();
  });
});
