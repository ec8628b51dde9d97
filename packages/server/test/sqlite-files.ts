import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.js';

/**
 * SQLite stores on database files in a temporary folder of the suite's own, all closed and the
 * folder removed after the suite. `file()` names a new database file; `open(path)` opens and
 * initializes a store on it (a new file when no path is given), as one more connection, with
 * the options given.
 */
export function sqliteFiles(prefix: string): {
  file: () => string;
  open: (path?: string, options?: Omit<SqliteStoreOptions, 'path'>) => Promise<SqliteStore>;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const stores: SqliteStore[] = [];
  let files = 0;
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  const file = () => join(dir, `s${++files}.db`);
  const open = async (path = file(), options: Omit<SqliteStoreOptions, 'path'> = {}) => {
    const s = new SqliteStore({ ...options, path });
    stores.push(s);
    await s.init();
    return s;
  };
  return { file, open };
}
