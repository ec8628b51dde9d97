import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventInput } from '../src/store/store.js';
import { waitFor } from './helpers.js';

// The WAL checkpoint thread loads compiled JavaScript with plain Node (worker_threads does not
// go through vitest's TypeScript transform; run from src the store falls back to SQLite's
// automatic checkpoint), so these tests use the build, as process.test.ts does: build first.
const built = new URL('../dist/store/sqlite.js', import.meta.url).href;
const { SqliteStore } = (await import(built)) as typeof import('../src/store/sqlite.js');

const dir = mkdtempSync(join(tmpdir(), 'herald-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ev(channel: string): EventInput {
  return { id: randomUUID(), channel, type: 'test', data: 'x'.repeat(100), ts: Date.now() };
}

/** The WAL header's checkpoint sequence number: SQLite adds one each time the WAL starts over. */
function walRestarts(path: string): number {
  const header = Buffer.alloc(16);
  const fd = openSync(`${path}-wal`, 'r');
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  return header.readUInt32BE(12);
}

/** Creates the database with 512-byte pages instead of 4096: the WAL reaches the length at
 * which the store starts it over with an eighth of the data. */
function smallPages(path: string): void {
  const created = new Database(path);
  created.pragma('page_size = 512');
  created.pragma('journal_mode = WAL');
  created.close();
}

/** Live worker threads of this process. */
function workerThreads(): number {
  return (process.report.getReport() as { workers: unknown[] }).workers.length;
}

describe('SqliteStore WAL checkpoint thread', () => {
  it('starts the WAL over while writes go on, without the event loop checkpointing', async () => {
    const path = join(dir, 'busy.db');
    smallPages(path);

    const s = new SqliteStore({ path });
    await s.init();
    const channels = Array.from({ length: 500 }, (_, i) => `c${i}`);
    const start = walRestarts(path);
    let written = 0;
    // Commits back to back, one group of 20 callers a turn: a checkpoint that only ran beside
    // the writer would never finish, and the WAL would grow for as long as this loop runs.
    const deadline = Date.now() + 45_000;
    while (written < 20_000 || walRestarts(path) < start + 2) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the WAL to start over');
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.append(
            Array.from({ length: 10 }, (_, j) => ev(channels[(written + i * 10 + j) % 500]!)),
          ),
        ),
      );
      written += 200;
    }

    // The thread did it: the event loop's automatic checkpoint is still off.
    expect(s.database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const heads = await s.ensureChannels(channels);
    expect(heads.reduce((sum, h) => sum + h.seq, 0)).toBe(written);
    await s.close();
  });

  it('close stops the thread and leaves the database without a WAL', async () => {
    const before = workerThreads();
    const path = join(dir, 'closed.db');
    const s = new SqliteStore({ path });
    await s.init();
    await waitFor(() => workerThreads() === before + 1, 10_000, 'the checkpoint thread');
    const stored = s.append([ev('a'), ev('a')]);
    await s.close();
    expect((await stored).map((e) => e.seq)).toEqual([1, 2]);
    expect(workerThreads()).toBe(before);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('a process that never closes its store finishes its appends, WAL restarts included, and exits', async () => {
    const path = join(dir, 'unclosed.db');
    smallPages(path);
    // Appends back to back until the WAL has started over twice: while it does, queued
    // appends wait for the thread, and nothing else keeps this process alive. Then the
    // process has nothing left to do but must exit although the store stays open.
    const script = `
      import { closeSync, openSync, readSync } from 'node:fs';
      const { SqliteStore } = await import(${JSON.stringify(built)});
      const path = ${JSON.stringify(path)};
      const s = new SqliteStore({
        path,
        onError: (err) => console.log('checkpoint thread failed: ' + err.message),
      });
      await s.init();
      const restarts = () => {
        const header = Buffer.alloc(16);
        const fd = openSync(path + '-wal', 'r');
        readSync(fd, header, 0, 16, 0);
        closeSync(fd);
        return header.readUInt32BE(12);
      };
      let n = 0;
      const ev = () => ({ id: String(n), channel: 'c' + (n++ % 500), type: 't', data: 'x'.repeat(100), ts: 1 });
      while (restarts() < 2) {
        await Promise.all(Array.from({ length: 20 }, () => s.append(Array.from({ length: 10 }, ev))));
      }
      console.log('appended ' + n);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await waitFor(() => child.exitCode !== null, 45_000, 'the process to exit by itself');
    } finally {
      child.kill();
    }
    expect(child.exitCode).toBe(0);
    const appended = Number(/^appended (\d+)$/.exec(out.trim())?.[1]);
    expect(appended).toBeGreaterThan(0);

    const reopened = new SqliteStore({ path });
    await reopened.init();
    const heads = await reopened.ensureChannels(Array.from({ length: 500 }, (_, i) => `c${i}`));
    expect(heads.reduce((sum, h) => sum + h.seq, 0)).toBe(appended);
    await reopened.close();
  });
});
