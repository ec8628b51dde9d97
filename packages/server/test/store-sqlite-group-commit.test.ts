import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EventInput, StoredEvent } from '../src/store/store.js';
import { sqliteFiles } from './sqlite-files.js';

// Group commit (src/store/sqlite.ts): appends requested in one turn of the event loop share
// one transaction. These tests issue their appends without awaiting in between, so they land
// in one group, and check what each caller and every later reader sees.

/** A new initialized store on its own database file, or another connection to `path`. */
const { file, open } = sqliteFiles('herald-group-');

function ev(channel: string, extra: Partial<EventInput> = {}): EventInput {
  return {
    id: randomUUID(),
    channel,
    type: 'test',
    data: `{"n":${Math.random()}}`,
    ts: 1,
    ...extra,
  };
}

const seqs = (events: readonly StoredEvent[]) => events.map((e) => e.seq);

/** What each call must get back when calls are numbered in call order, then input order. */
function expected(calls: readonly (readonly EventInput[])[], heads: Record<string, number>) {
  const next = new Map(Object.entries(heads));
  return calls.map((events) =>
    events.map((e) => {
      const seq = (next.get(e.channel) ?? 0) + 1;
      next.set(e.channel, seq);
      return { ...e, seq };
    }),
  );
}

describe('SqliteStore group commit', () => {
  it('numbers appends issued in one turn densely, in call order, and gives each caller its own rows', async () => {
    const s = await open();
    await s.append([ev('a'), ev('a')]); // 'a' exists with seq 2; 'b' and 'c' are new
    const calls: EventInput[][] = [];
    for (let i = 0; i < 40; i++) {
      const size = 1 + (i % 3);
      calls.push(Array.from({ length: size }, (_, j) => ev(['a', 'b', 'c'][(i + j) % 3]!)));
    }
    const results = await Promise.all(calls.map((events) => s.append(events)));

    expect(results).toEqual(expected(calls, { a: 2 }));
    const all = results.flat();
    for (const channel of ['a', 'b', 'c']) {
      const mine = all.filter((e) => e.channel === channel);
      const first = channel === 'a' ? 3 : 1;
      expect(seqs(mine)).toEqual(mine.map((_, i) => first + i));
      const stored = await s.readAfter(channel, first - 1, 1000);
      expect(stored).toEqual(mine);
    }
    const heads = await s.ensureChannels(['a', 'b', 'c']);
    expect(heads.map((h) => h.seq)).toEqual(
      ['a', 'b', 'c'].map((c) => seqs(all).at(all.findLastIndex((e) => e.channel === c))),
    );
  });

  it("fails only the caller whose events fail; the others' commit goes through", async () => {
    const s = await open();
    const good1 = [ev('a')];
    const noData = [ev('b'), ev('a', { data: null as unknown as string })]; // NOT NULL
    const good2 = [ev('a'), ev('b')];
    const objectData = [ev('c', { data: {} as unknown as string })]; // SQLite cannot bind it
    const good3 = [ev('b'), ev('c')];
    const settled = await Promise.allSettled(
      [good1, noData, good2, objectData, good3].map((events) => s.append(events)),
    );

    expect(settled.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const ok = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(ok).toEqual(expected([good1, good2, good3], {}));
    // Nothing of the failed callers was stored, and no sequence was used up by them.
    expect(seqs(await s.readAfter('a', 0, 10))).toEqual([1, 2]);
    expect(await s.readAfter('b', 0, 10)).toEqual([ok[1]![1], ok[2]![0]]);
    expect(await s.readAfter('c', 0, 10)).toEqual([ok[2]![1]]);
    expect((await s.ensureChannels(['a', 'b', 'c'])).map((h) => h.seq)).toEqual([2, 2, 1]);
  });

  it('a read, ensureChannels or trim sees the appends requested before it', async () => {
    const s = await open();
    const first = s.append([ev('a'), ev('a')]);
    expect(seqs(await s.readAfter('a', 0, 10))).toEqual([1, 2]);
    const second = s.append([ev('a')]);
    expect((await s.ensureChannels(['a']))[0]?.seq).toBe(3);
    const third = s.append([ev('a')]);
    expect(await s.trim({ maxAgeMs: 0, maxEvents: 1 }, Date.now())).toBe(3);
    expect([seqs(await first), seqs(await second), seqs(await third)]).toEqual([[1, 2], [3], [4]]);
  });

  it('close commits the queued appends first; appends after close reject', async () => {
    const path = file();
    const s = await open(path);
    const queued = [s.append([ev('a'), ev('b')]), s.append([ev('a')])];
    const closed = s.close();
    await expect(s.append([ev('a')])).rejects.toThrow(/closed/);
    await closed;
    expect((await Promise.all(queued)).map(seqs)).toEqual([[1, 1], [2]]);
    await expect(s.append([ev('a')])).rejects.toThrow(/closed/);

    const reopened = await open(path);
    expect(seqs(await reopened.readAfter('a', 0, 10))).toEqual([1, 2]);
    expect(seqs(await reopened.readAfter('b', 0, 10))).toEqual([1]);
  });
});

describe('SqliteStore appendWith', () => {
  it("commits a write's own rows with its events, and rolls both back alone when either fails", async () => {
    const s = await open();
    s.database.exec('CREATE TABLE side (k TEXT PRIMARY KEY)');
    const insert = s.database.prepare('INSERT INTO side (k) VALUES (?)');
    const good = s.appendWith(() => {
      insert.run('good');
      return { value: 'kept', events: [ev('w'), ev('w')] };
    });
    // Its event cannot be stored (data is NOT NULL): its side row must not stay either.
    const bad = s.appendWith(() => {
      insert.run('bad');
      return { value: 'lost', events: [ev('w', { data: null as unknown as string })] };
    });
    const plain = s.append([ev('w')]);
    const [g, b, p] = await Promise.allSettled([good, bad, plain]);

    expect(g.status === 'fulfilled' && g.value.value).toBe('kept');
    expect(b.status).toBe('rejected');
    expect(p.status).toBe('fulfilled');
    const stored = await s.readAfter('w', 0, 10);
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(s.database.prepare('SELECT k FROM side ORDER BY k').pluck().all()).toEqual(['good']);
  });
});
