import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { sqliteFiles } from './sqlite-files.js';

// The events table was clustered by (channel, seq) until 2026-12 (src/store/sqlite.ts,
// EVENTS_SCHEMA). A file written then must open with every event, numbered as before, in a
// table that appends in storage order.

const { file: newFile, open } = sqliteFiles('herald-migrate-');

/** A database file as the earlier schema wrote it: two channels, one trimmed by retention. */
function writeClusteredFile(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE channels (
      name TEXT PRIMARY KEY,
      epoch TEXT NOT NULL,
      seq INTEGER NOT NULL DEFAULT 0,
      trimmed_seq INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE events (
      channel TEXT NOT NULL,
      seq INTEGER NOT NULL,
      id TEXT NOT NULL,
      type TEXT NOT NULL,
      data TEXT NOT NULL,
      ts INTEGER NOT NULL,
      PRIMARY KEY (channel, seq)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_ts ON events (ts);
    INSERT INTO channels VALUES ('a', 'epochA', 0, 0), ('b', 'epochB', 2, 2);
  `);
  const insert = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)');
  insert.run('a', 1, 'a1', 'note', '{"n":1}', 1000);
  insert.run('b', 3, 'b3', 'note', '{"n":3}', 1001);
  insert.run('a', 2, 'a2', 'note', '{"n":2}', 1002);
  db.close();
}

/** Every table's and index's SQL in the file. */
function schemaOf(path: string): string[] {
  const db = new Database(path, { readonly: true });
  const sql = db.prepare<[], string>('SELECT sql FROM sqlite_schema ORDER BY name').pluck().all();
  db.close();
  return sql;
}

describe('SqliteStore on a file of the earlier, clustered events table', () => {
  it('keeps every event, head and epoch, and goes on numbering after them', async () => {
    const path = newFile();
    writeClusteredFile(path);
    const store = await open(path);

    const a = await store.readAfter('a', 0, 10);
    expect(a.map((e) => [e.seq, e.id, e.data, e.ts])).toEqual([
      [1, 'a1', '{"n":1}', 1000],
      [2, 'a2', '{"n":2}', 1002],
    ]);
    const heads = await store.ensureChannels(['a', 'b']);
    expect(heads.map((h) => [h.channel, h.epoch, h.seq, h.trimmedSeq])).toEqual([
      ['a', 'epochA', 2, 0],
      ['b', 'epochB', 3, 2],
    ]);
    const [next] = await store.append([
      { id: 'b4', channel: 'b', type: 'note', data: '{}', ts: 2000 },
    ]);
    expect(next?.seq).toBe(4);
    expect((await store.readAfter('b', 2, 10)).map((e) => e.id)).toEqual(['b3', 'b4']);
  });

  it('converts the table once, with its age index, in storage order', async () => {
    const path = newFile();
    writeClusteredFile(path);
    await open(path);
    const before = schemaOf(path);
    await open(path); // a second connection finds the new table and leaves it alone
    expect(schemaOf(path)).toEqual(before);

    const db = new Database(path, { readonly: true });
    const sql = db
      .prepare<[], string>("SELECT sql FROM sqlite_schema WHERE name = 'events'")
      .pluck()
      .get();
    const indexes = db
      .prepare<[], string>(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'",
      )
      .pluck()
      .all();
    const order = db.prepare<[], string>('SELECT id FROM events ORDER BY pos').pluck().all();
    const leftOver = db
      .prepare<[], string>("SELECT name FROM sqlite_schema WHERE name = 'events_clustered'")
      .pluck()
      .all();
    db.close();
    expect(sql).not.toMatch(/WITHOUT ROWID/i);
    expect(sql).toMatch(/pos INTEGER PRIMARY KEY/);
    expect(indexes).toContain('events_by_ts');
    expect(order).toEqual(['a1', 'b3', 'a2']);
    expect(leftOver).toEqual([]);
  });
});
