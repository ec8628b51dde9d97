import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventInput, Store, StoredEvent } from '../src/store/store.js';

/**
 * The Store contract (see src/store/store.ts), run by every backend's test file.
 *
 * `makeStore` opens a new, not yet initialized store on the suite's one database; every call
 * is a separate connection (a separate node), so a store opened later sees what earlier ones
 * wrote. Tests share that database, so each names its own channels; `cleanup` removes the
 * database after the suite.
 */
export function storeContract(
  name: string,
  makeStore: () => Promise<Store>,
  cleanup?: () => Promise<void>,
): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    let run = 0;

    /** A new initialized store, closed after the suite if the test did not close it. */
    async function store(): Promise<Store> {
      const s = await makeStore();
      open.push(s);
      await s.init();
      return s;
    }

    /** Channel names unique to this test, so tests sharing the database never collide. */
    function channels(n: number): string[] {
      const base = `c${++run}-${randomUUID().slice(0, 8)}`;
      return Array.from({ length: n }, (_, i) => `${base}-${i}`);
    }

    function ev(channel: string, extra: Partial<EventInput> = {}): EventInput {
      return {
        id: randomUUID(),
        channel,
        type: 'test',
        data: JSON.stringify({ n: Math.random() }),
        ts: Date.now(),
        ...extra,
      };
    }

    const seqs = (events: readonly StoredEvent[]) => events.map((e) => e.seq);

    afterAll(async () => {
      await Promise.allSettled(open.map((s) => s.close()));
      await cleanup?.();
    });

    it('init is idempotent and safe when several nodes start at once', async () => {
      const nodes = await Promise.all([makeStore(), makeStore(), makeStore()]);
      open.push(...nodes);
      await Promise.all(nodes.map((s) => s.init()));
      await nodes[0].init();
      await Promise.all(nodes.map((s) => s.ping()));
      const [ch] = channels(1);
      await nodes[0].append([ev(ch!)]);
      expect(seqs(await nodes[2].readAfter(ch!, 0, 10))).toEqual([1]);
    });

    it('sequences start at 1 per channel and are consecutive', async () => {
      const s = await store();
      const [a, b] = channels(2) as [string, string];
      expect(seqs(await s.append([ev(a)]))).toEqual([1]);
      expect(seqs(await s.append([ev(a)]))).toEqual([2]);
      expect(seqs(await s.append([ev(b)]))).toEqual([1]);
      expect(seqs(await s.append([ev(a), ev(a), ev(a)]))).toEqual([3, 4, 5]);
      expect(seqs(await s.readAfter(a, 0, 100))).toEqual([1, 2, 3, 4, 5]);
      expect(seqs(await s.readAfter(b, 0, 100))).toEqual([1]);
    });

    it('append returns the events in input order, with their sequences', async () => {
      const s = await store();
      // Names in reverse order, so a backend that locks channels in sorted order must still
      // answer in input order.
      const [z, m, a] = channels(3).reverse() as [string, string, string];
      const input = [ev(z), ev(a), ev(z), ev(m), ev(a, { type: 'other' }), ev(z)];
      const out = await s.append(input);
      expect(out).toEqual(input.map((e, i) => ({ ...e, seq: [1, 1, 2, 1, 2, 3][i] })));
      expect(await s.readAfter(z, 0, 10)).toEqual([out[0], out[2], out[5]]);
      expect(await s.readAfter(a, 0, 10)).toEqual([out[1], out[4]]);
      expect(await s.readAfter(m, 0, 10)).toEqual([out[3]]);
    });

    it('append of an empty batch stores nothing', async () => {
      const s = await store();
      expect(await s.append([])).toEqual([]);
    });

    it('append is atomic: a batch with one failing event stores none of it', async () => {
      const s = await store();
      const [a, b, c] = channels(3) as [string, string, string];
      await s.append([ev(a)]);
      // NOT NULL holds in every backend, so a missing payload fails the insert itself, after
      // the events before it in the batch were written.
      const bad = ev(c, { data: null as unknown as string });
      await expect(s.append([ev(a), ev(b), ev(a), bad])).rejects.toThrow();
      expect(seqs(await s.readAfter(a, 0, 10))).toEqual([1]);
      expect(await s.readAfter(b, 0, 10)).toEqual([]);
      expect(await s.readAfter(c, 0, 10)).toEqual([]);
      // No sequence was used up: the next append continues without a hole.
      const heads = await s.ensureChannels([a, b, c]);
      expect(heads.map((h) => h.seq)).toEqual([1, 0, 0]);
      expect(seqs(await s.append([ev(a), ev(b)]))).toEqual([2, 1]);
    });

    it('append with resume stores only what is not stored yet, and returns the rest as stored', async () => {
      const s = await store();
      const other = await store();
      const [a, b, c] = channels(3) as [string, string, string];
      const e1 = ev(a);
      const e2 = ev(b);
      expect(seqs(await s.append([e1, e2]))).toEqual([1, 1]);
      expect(seqs(await s.append([ev(a)]))).toEqual([2]);
      // The retry of [e1, e2, e3] whose first attempt stored e1 and e2 (seen from another node):
      // e1 and e2 come back with their sequences and take none; e3 is stored after the head.
      const e3 = ev(a);
      const e4 = ev(c);
      const again = await other.append([e1, e2, e3, e4], { resume: true });
      expect(again).toEqual([
        { ...e1, seq: 1 },
        { ...e2, seq: 1 },
        { ...e3, seq: 3 },
        { ...e4, seq: 1 },
      ]);
      expect((await s.readAfter(a, 0, 10)).map((e) => [e.seq, e.id])).toEqual([
        [1, e1.id],
        [2, expect.any(String)],
        [3, e3.id],
      ]);
      expect(seqs(await s.readAfter(b, 0, 10))).toEqual([1]);
      // All of it stored already: nothing is written, the same answer comes back.
      expect(await s.append([e1, e2, e3, e4], { resume: true })).toEqual(again);
      expect(seqs(await s.append([ev(b)]))).toEqual([2]);
      // The same id at another time is another event (the plan fixes both).
      expect(seqs(await s.append([{ ...e1, ts: e1.ts + 1 }], { resume: true }))).toEqual([4]);
    });

    it('resumed and plain appends at once stay consecutive, and nothing is stored twice', async () => {
      const s = await store();
      const [a] = channels(1) as [string];
      const planned = [ev(a), ev(a)];
      await s.append([planned[0]!]);
      const results = await Promise.all([
        s.append([ev(a), ev(a)]),
        s.append(planned, { resume: true }),
        s.append([ev(a)]),
      ]);
      expect(results[1][0]).toEqual({ ...planned[0], seq: 1 });
      const all = await s.readAfter(a, 0, 100);
      expect(seqs(all)).toEqual([1, 2, 3, 4, 5]);
      expect(new Set(all.map((e) => e.id)).size).toBe(5);
      expect(all.filter((e) => e.id === planned[1]!.id)).toHaveLength(1);
    });

    it('ensureChannels creates epochs that stay the same across calls and reopening', async () => {
      const first = await store();
      const [x, y, z] = channels(3) as [string, string, string];
      const heads = await first.ensureChannels([x, y]);
      expect(heads.map((h) => [h.channel, h.seq, h.trimmedSeq])).toEqual([
        [x, 0, 0],
        [y, 0, 0],
      ]);
      for (const h of heads) expect(h.epoch).toMatch(/^\S+$/);
      expect(await first.ensureChannels([y, x])).toEqual([heads[1], heads[0]]);

      await first.append([ev(x), ev(x), ev(z)]); // z's epoch is created by append
      const afterAppend = await first.ensureChannels([x, z, x]);
      expect(afterAppend.map((h) => [h.channel, h.epoch, h.seq, h.trimmedSeq])).toEqual([
        [x, heads[0]!.epoch, 2, 0],
        [z, afterAppend[1]!.epoch, 1, 0],
        [x, heads[0]!.epoch, 2, 0],
      ]);
      await first.close();

      const reopened = await store();
      expect(await reopened.ensureChannels([x, y, z])).toEqual([
        afterAppend[0],
        heads[1],
        afterAppend[1],
      ]);
      expect(await reopened.ensureChannels([])).toEqual([]);
    });

    it('readAfter returns events after a position, ascending, at most limit, intact', async () => {
      const s = await store();
      const [a, empty] = channels(2) as [string, string];
      const payloads = [
        '{"text":"plain"}',
        'line one\nline two\r\nline three\rend',
        '{"emoji":"🎉","accents":"héllo","cjk":"通知"}',
        '',
        'x'.repeat(64 * 1024),
      ];
      const ts = Date.now(); // well past 2^31: stored as 64-bit
      const input = payloads.map((data, i) => ev(a, { data, ts: ts + i, type: `t${i}` }));
      const stored = await s.append(input);
      expect(await s.readAfter(a, 0, 100)).toEqual(stored);
      expect(seqs(await s.readAfter(a, 0, 3))).toEqual([1, 2, 3]);
      expect(seqs(await s.readAfter(a, 2, 2))).toEqual([3, 4]);
      expect(seqs(await s.readAfter(a, 4, 100))).toEqual([5]);
      expect(await s.readAfter(a, 5, 100)).toEqual([]);
      expect(await s.readAfter(empty, 0, 100)).toEqual([]);
    });

    it('trim by count keeps the newest events and records trimmedSeq', async () => {
      const s = await store();
      const policy = { maxAgeMs: 0, maxEvents: 2 };
      // Earlier tests' channels share the database: bring them within the policy first, so
      // the count below is this test's alone.
      await s.trim(policy, Date.now());
      const [big, small] = channels(2) as [string, string];
      await s.append([ev(big), ev(big), ev(big), ev(small), ev(big), ev(big), ev(small)]);
      expect(await s.trim(policy, Date.now())).toBe(3);
      expect(seqs(await s.readAfter(big, 0, 10))).toEqual([4, 5]);
      expect(seqs(await s.readAfter(small, 0, 10))).toEqual([1, 2]);
      const heads = await s.ensureChannels([big, small]);
      expect(heads.map((h) => [h.seq, h.trimmedSeq])).toEqual([
        [5, 3],
        [2, 0],
      ]);
      expect(await s.trim(policy, Date.now())).toBe(0);

      await s.append([ev(big)]);
      expect(await s.trim(policy, Date.now())).toBe(1);
      expect(seqs(await s.readAfter(big, 0, 10))).toEqual([5, 6]);
      expect((await s.ensureChannels([big]))[0]?.trimmedSeq).toBe(4);
      // Trimmed sequences are never handed out again.
      expect(seqs(await s.append([ev(big)]))).toEqual([7]);
    });

    it('trim by age deletes events older than maxAgeMs and records trimmedSeq', async () => {
      const s = await store();
      const now = Date.now();
      const policy = { maxAgeMs: 60_000, maxEvents: 0 };
      await s.trim(policy, now);
      const [a, fresh] = channels(2) as [string, string];
      await s.append([
        ev(a, { ts: now - 120_000 }),
        ev(a, { ts: now - 60_001 }),
        ev(a, { ts: now - 60_000 }), // exactly maxAgeMs old: not older, kept
        ev(a, { ts: now - 10 }),
        ev(fresh, { ts: now }),
      ]);
      expect(await s.trim(policy, now)).toBe(2);
      expect(seqs(await s.readAfter(a, 0, 10))).toEqual([3, 4]);
      expect(seqs(await s.readAfter(fresh, 0, 10))).toEqual([1]);
      const heads = await s.ensureChannels([a, fresh]);
      expect(heads.map((h) => [h.seq, h.trimmedSeq])).toEqual([
        [4, 2],
        [1, 0],
      ]);
      // Later, the rest ages out; the channel keeps its sequence and epoch.
      expect(await s.trim(policy, now + 120_000)).toBeGreaterThanOrEqual(3);
      expect(await s.readAfter(a, 0, 10)).toEqual([]);
      const later = await s.ensureChannels([a]);
      expect([later[0]?.epoch, later[0]?.seq, later[0]?.trimmedSeq]).toEqual([
        heads[0]?.epoch,
        4,
        4,
      ]);
      expect(seqs(await s.append([ev(a)]))).toEqual([5]);
    });

    it('trim with no limits deletes nothing', async () => {
      const s = await store();
      const [a] = channels(1) as [string];
      await s.append([ev(a, { ts: 0 }), ev(a, { ts: 1 })]);
      expect(await s.trim({ maxAgeMs: 0, maxEvents: 0 }, Date.now())).toBe(0);
      expect(seqs(await s.readAfter(a, 0, 10))).toEqual([1, 2]);
    });

    it('concurrent appends from several nodes are consecutive and never visible with a gap', async () => {
      const NODES = 4;
      const WRITERS_PER_NODE = 3;
      const BATCHES = 30;
      const writers = await Promise.all(Array.from({ length: NODES }, () => store()));
      const reader = await store();
      const names = channels(3);
      const appended: StoredEvent[] = [];
      let writing = true;

      const write = async (node: Store) => {
        for (let b = 0; b < BATCHES; b++) {
          // 1-3 events on random channels in random order: batches that cross channels in
          // opposite orders are what deadlocks a backend that does not lock in one order.
          const size = 1 + Math.floor(Math.random() * 3);
          const batch = Array.from({ length: size }, () =>
            ev(names[Math.floor(Math.random() * names.length)]!),
          );
          appended.push(...(await node.append(batch)));
        }
      };

      /** Reads each channel forward like the hub does; any jump in sequence is a gap. */
      const last = new Map(names.map((c) => [c, 0]));
      const seen = new Map<string, StoredEvent>();
      const readForward = async () => {
        let got = 0;
        for (const c of names) {
          const rows = await reader.readAfter(c, last.get(c)!, 50);
          for (const row of rows) {
            const expected = last.get(c)! + 1;
            if (row.seq !== expected) {
              throw new Error(`gap on ${c}: saw seq ${row.seq} while ${expected} was not visible`);
            }
            last.set(c, row.seq);
            seen.set(row.id, row);
          }
          got += rows.length;
        }
        return got;
      };
      const read = async () => {
        let passes = 0;
        while (writing) {
          await readForward();
          passes++;
        }
        while ((await readForward()) > 0);
        return passes;
      };

      const reading = read();
      reading.catch(() => {}); // awaited below; a gap must not surface as an unhandled rejection
      try {
        await Promise.all(
          writers.flatMap((node) => Array.from({ length: WRITERS_PER_NODE }, () => write(node))),
        );
      } finally {
        writing = false;
      }
      expect(await reading).toBeGreaterThan(0);

      const total = NODES * WRITERS_PER_NODE * BATCHES;
      expect(appended.length).toBeGreaterThanOrEqual(total);
      for (const c of names) {
        const mine = appended.filter((e) => e.channel === c).map((e) => e.seq);
        mine.sort((x, y) => x - y);
        expect(mine).toEqual(Array.from({ length: mine.length }, (_, i) => i + 1));
        expect(last.get(c)).toBe(mine.length);
      }
      // Every appended event was read once, with the sequence append returned.
      expect(seen.size).toBe(appended.length);
      for (const e of appended) expect(seen.get(e.id)).toEqual(e);
      const heads = await reader.ensureChannels(names);
      expect(heads.map((h) => h.seq)).toEqual(names.map((c) => last.get(c)));
    });

    it('ping resolves while open; close lets pending writes finish, then methods reject', async () => {
      const s = await store();
      await s.ping();
      const [a] = channels(1) as [string];
      const pending = s.append([ev(a), ev(a)]);
      await s.close();
      expect(seqs(await pending)).toEqual([1, 2]);
      await s.close(); // idempotent
      await expect(s.ping()).rejects.toThrow();
      await expect(s.append([ev(a)])).rejects.toThrow();
      await expect(s.readAfter(a, 0, 10)).rejects.toThrow();

      const reopened = await store();
      expect(seqs(await reopened.readAfter(a, 0, 10))).toEqual([1, 2]);
    });
  });
}
