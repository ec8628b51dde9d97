import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  EVERYONE,
  storedAsNew,
  type InboxScope,
  type InboxStore,
  type NewNotification,
  type StoredNotification,
} from '../src/inbox/inbox-store.js';

export interface OpenInbox {
  readonly inbox: InboxStore;
  close(): Promise<void>;
}

/**
 * The InboxStore contract (see src/inbox/inbox-store.ts), run by every backend's test file.
 *
 * `open` gives a new, not yet initialized inbox on the suite's one database, over a
 * connection of its own (another node); tests share the database, so each names its own
 * owners. `cleanup` removes the database after the suite.
 */
export function inboxContract(
  name: string,
  open: () => Promise<OpenInbox>,
  cleanup?: () => Promise<void>,
): void {
  describe(`InboxStore contract: ${name}`, () => {
    const opened: OpenInbox[] = [];
    const T0 = Date.now();

    async function inbox(): Promise<InboxStore> {
      const o = await open();
      opened.push(o);
      await o.inbox.init();
      return o.inbox;
    }

    // Each test's connections are closed after it: the suite never holds more than one
    // test's worth of connections (PostgreSQL's max_connections is shared by every suite).
    afterEach(async () => {
      for (const o of opened.splice(0)) await o.close();
    });
    afterAll(async () => {
      await cleanup?.();
    });

    /** Owners unique to this test. */
    function users(n: number): string[] {
      const base = randomUUID().slice(0, 8);
      return Array.from({ length: n }, (_, i) => `u${i}-${base}`);
    }
    const user = (id: string): InboxScope => ({ kind: 'user', userId: id });

    let clock = 0;
    function item(owner: string, extra: Partial<NewNotification> = {}): NewNotification {
      clock++;
      return {
        id: randomUUID(),
        owner,
        title: `title ${clock}`,
        body: `body ${clock}`,
        priority: 'normal',
        createdAt: T0 + clock,
        eventType: 'notification',
        durable: true,
        muted: false,
        ...extra,
      };
    }
    const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id);
    const now = () => T0 + clock + 1;

    it('init is idempotent and safe when several nodes start at once', async () => {
      const nodes = await Promise.all([open(), open(), open()]);
      opened.push(...nodes);
      await Promise.all(nodes.map((n) => n.inbox.init()));
      await nodes[0].inbox.init();
      const [a] = users(1);
      const n = item(`user:${a}`);
      await nodes[1].inbox.create([n], now());
      expect(ids(await nodes[2].inbox.list(user(a!), {}, 10, undefined, now()))).toEqual([n.id]);
    });

    it('stores every field and answers in input order with the outcome', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const full = item(`user:${a}`, {
        title: 'Déploiement 🎉',
        body: 'line one\nline two',
        data: JSON.stringify({ build: 42, tags: ['x'] }),
        category: 'ci',
        priority: 'high',
        severity: 'medium',
        url: 'https://example.com/b/42',
        expiresAt: T0 + 86_400_000,
        template: 'build',
        collapseKey: 'k',
        dedupKey: 'd',
        eventType: 'custom.type',
        durable: false,
        muted: true,
      });
      const bare = item(`user:${b}`);
      const out = await s.create([full, bare], now());
      expect(out.map((r) => r.outcome)).toEqual(['created', 'created']);
      const expected: StoredNotification = {
        ...storedAsNew(full, 'delivered'),
        deliverAt: undefined,
        dedupWindowMs: undefined,
      };
      const [stored] = await s.list(user(a), {}, 10, undefined, now());
      expect({ ...stored, dedupWindowMs: undefined }).toEqual(expected);
      expect(out[0]!.notification).toMatchObject({ id: full.id, status: 'delivered' });
      expect(await s.locate(full.id, now())).toEqual({ owner: `user:${a}`, status: 'delivered' });
      expect(await s.locate(randomUUID(), now())).toBeUndefined();
      expect(await s.create([], now())).toEqual([]);
    });

    it('pages newest first, continuing after a position, stable while rows arrive', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const made = Array.from({ length: 25 }, () => item(`user:${a}`));
      // Two rows with the same time: ordered by id, still each seen exactly once.
      const twinTime = made[10]!.createdAt;
      made.push(item(`user:${a}`, { createdAt: twinTime }));
      await s.create(made, now());
      const seen: string[] = [];
      let before: { createdAt: number; id: string } | undefined;
      for (let page = 0; page < 10; page++) {
        const rows = await s.list(user(a), {}, 7, before, now());
        if (page === 1) await s.create([item(`user:${a}`)], now()); // newer: not on later pages
        seen.push(...ids(rows));
        const last = rows[rows.length - 1];
        if (rows.length < 7 || !last) break;
        before = { createdAt: last.createdAt, id: last.id };
      }
      const expected = [...made]
        .sort((x, y) => y.createdAt - x.createdAt || (x.id < y.id ? 1 : -1))
        .map((n) => n.id);
      expect(seen).toEqual(expected);
    });

    it('filters by state, category, priority, severity, time and title text', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const o = `user:${a}`;
      const n1 = item(o, { category: 'ci', priority: 'low', title: 'Build 100% done' });
      const n2 = item(o, { category: 'billing', priority: 'high', severity: 'critical' });
      const n3 = item(o, { priority: 'critical', severity: 'low', title: 'DISK full_now' });
      const n4 = item(o, { category: 'ci', title: 'build_failed' });
      await s.create([n1, n2, n3, n4], now());
      await s.mark(user(a), { ids: [n1.id] }, { kind: 'read' }, now());
      await s.mark(user(a), { ids: [n2.id] }, { kind: 'ack', by: a }, now());
      await s.mark(user(a), { ids: [n4.id] }, { kind: 'archive' }, now());
      const q = async (f: Parameters<InboxStore['list']>[1]) =>
        ids(await s.list(user(a), f, 50, undefined, now())).sort();
      const sorted = (...xs: NewNotification[]) => ids(xs).sort();
      expect(await q({ read: false })).toEqual(sorted(n2, n3, n4));
      expect(await q({ read: true })).toEqual(sorted(n1));
      expect(await q({ seen: true })).toEqual(sorted(n1)); // read implies seen
      expect(await q({ acked: true })).toEqual(sorted(n2));
      expect(await q({ acked: false, archived: false })).toEqual(sorted(n1, n3));
      expect(await q({ archived: true })).toEqual(sorted(n4));
      expect(await q({ categories: ['ci'] })).toEqual(sorted(n1, n4));
      expect(await q({ categories: ['ci', 'billing'], archived: false })).toEqual(sorted(n1, n2));
      expect(await q({ categories: [] })).toEqual([]);
      expect(await q({ priorities: ['high', 'critical'] })).toEqual(sorted(n2, n3));
      expect(await q({ severities: ['critical'] })).toEqual(sorted(n2));
      expect(await q({ since: n2.createdAt, until: n4.createdAt })).toEqual(sorted(n2, n3));
      expect(await q({ titleContains: 'BUILD' })).toEqual(sorted(n1, n4));
      // LIKE metacharacters are literal.
      expect(await q({ titleContains: '100%' })).toEqual(sorted(n1));
      expect(await q({ titleContains: '_' })).toEqual(sorted(n3, n4));
      expect(await q({ titleContains: 'd_n' })).toEqual([]);
      expect(await q({ ids: [n3.id, n4.id, randomUUID()] })).toEqual(sorted(n3, n4));
    });

    it("keeps owners apart: a scope never sees, changes or deletes another owner's rows", async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const na = item(`user:${a}`);
      const nb = item(`user:${b}`);
      const feed = item(`feed-${a}`);
      await s.create([na, nb, feed], now());
      expect(ids(await s.list(user(a), {}, 50, undefined, now()))).toEqual([na.id]);
      expect(await s.list(user(a), { ids: [nb.id] }, 50, undefined, now())).toEqual([]);
      expect(await s.mark(user(a), { ids: [nb.id] }, { kind: 'read' }, now())).toEqual([]);
      expect(await s.mark(user(a), {}, { kind: 'read' }, now())).toEqual([na.id]);
      expect(await s.remove(user(a), { ids: [nb.id, feed.id] }, now())).toEqual([]);
      const [bRow] = await s.list(user(b), {}, 50, undefined, now());
      expect(bRow).toMatchObject({ id: nb.id, readAt: null });
      expect(
        ids(await s.list({ kind: 'feed', channel: `feed-${a}` }, {}, 50, undefined, now())),
      ).toEqual([feed.id]);
    });

    it('mark changes only what it changes and reports exactly those ids', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const [n1, n2] = [item(`user:${a}`), item(`user:${a}`)];
      await s.create([n1, n2], now());
      const t = now();
      expect(await s.mark(user(a), { ids: [n1.id] }, { kind: 'seen' }, t)).toEqual([n1.id]);
      expect(await s.mark(user(a), { ids: [n1.id] }, { kind: 'seen' }, t + 1)).toEqual([]);
      expect((await s.mark(user(a), {}, { kind: 'read' }, t + 2)).sort()).toEqual(
        [n1.id, n2.id].sort(),
      );
      expect(await s.mark(user(a), {}, { kind: 'read' }, t + 3)).toEqual([]);
      const rows = await s.list(user(a), {}, 10, undefined, now());
      const r1 = rows.find((r) => r.id === n1.id)!;
      expect([r1.readAt, r1.seenAt]).toEqual([t + 2, t]); // seen keeps its first time
      expect(await s.mark(user(a), { ids: [n2.id] }, { kind: 'unread' }, t + 4)).toEqual([n2.id]);
      expect(await s.mark(user(a), {}, { kind: 'ack', by: 'ops' }, t + 5)).toHaveLength(2);
      expect(await s.mark(user(a), {}, { kind: 'archive' }, t + 6)).toHaveLength(2);
      expect(await s.mark(user(a), { ids: [n1.id] }, { kind: 'unarchive' }, t + 7)).toEqual([
        n1.id,
      ]);
      const after = await s.list(user(a), {}, 10, undefined, now());
      expect(after.find((r) => r.id === n2.id)).toMatchObject({
        readAt: null,
        ackedAt: t + 5,
        ackedBy: 'ops',
        archivedAt: t + 6,
      });
      expect(after.find((r) => r.id === n1.id)).toMatchObject({ archivedAt: null });
      expect(await s.remove(user(a), { ids: [n1.id] }, now())).toEqual([n1.id]);
      expect(await s.remove(user(a), { ids: [n1.id] }, now())).toEqual([]);
      expect(await s.locate(n1.id, now())).toBeUndefined();
    });

    it('stores a notification to everyone once, with state per user created lazily', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const all = item(EVERYONE, { category: 'news', severity: 'high' });
      const own = item(`user:${a}`);
      await s.create([all, own], now());
      expect(ids(await s.list(user(a), {}, 10, undefined, now()))).toEqual([own.id, all.id]);
      expect(ids(await s.list(user(b), {}, 10, undefined, now()))).toContain(all.id);
      expect(await s.mark(user(a), { ids: [all.id] }, { kind: 'read' }, now())).toEqual([all.id]);
      expect(await s.mark(user(a), { ids: [all.id] }, { kind: 'read' }, now())).toEqual([]);
      expect(await s.mark(user(a), {}, { kind: 'ack', by: a }, now())).toEqual(
        expect.arrayContaining([all.id, own.id]),
      );
      const [aView] = await s.list(user(a), { ids: [all.id] }, 1, undefined, now());
      const [bView] = await s.list(user(b), { ids: [all.id] }, 1, undefined, now());
      expect(aView).toMatchObject({ readAt: expect.any(Number), ackedBy: a });
      expect(bView).toMatchObject({ readAt: null, ackedAt: null });
      expect(
        ids(await s.list(user(a), { read: false, ids: [all.id] }, 5, undefined, now())),
      ).toEqual([]);
      expect(
        ids(await s.list(user(b), { read: false, ids: [all.id] }, 5, undefined, now())),
      ).toEqual([all.id]);
      // Deleting hides it from that user only.
      expect(await s.remove(user(b), { ids: [all.id] }, now())).toEqual([all.id]);
      expect(await s.list(user(b), { ids: [all.id] }, 5, undefined, now())).toEqual([]);
      expect(ids(await s.list(user(a), { ids: [all.id] }, 5, undefined, now()))).toEqual([all.id]);
      // The everyone scope deletes it for everyone.
      expect(await s.remove({ kind: 'everyone' }, { ids: [all.id] }, now())).toEqual([all.id]);
      expect(await s.list(user(a), { ids: [all.id] }, 5, undefined, now())).toEqual([]);
      await expect(s.mark({ kind: 'everyone' }, {}, { kind: 'read' }, now())).rejects.toThrow();
    });

    it('shares the state of a feed between all its readers', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const feed = { kind: 'feed', channel: `alerts-${a}` } as const;
      const n = item(feed.channel, { severity: 'critical' });
      await s.create([n], now());
      expect(await s.mark(feed, { ids: [n.id] }, { kind: 'ack', by: 'alice' }, now())).toEqual([
        n.id,
      ]);
      expect(await s.mark(feed, { ids: [n.id] }, { kind: 'ack', by: 'bob' }, now())).toEqual([]);
      const [row] = await s.list(feed, {}, 5, undefined, now());
      expect(row).toMatchObject({ ackedBy: 'alice' });
    });

    it('summarizes unread by category and unacked by severity, per scope, in one call', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const oa = `user:${a}`;
      const made = [
        item(oa, { category: 'ci' }),
        item(oa, { category: 'ci', severity: 'high' }),
        item(oa, { category: 'billing', severity: 'critical' }),
        item(oa),
        item(oa, { category: 'ci', expiresAt: T0 }), // expired: never counted
      ];
      const sched = item(oa, { category: 'ci', deliverAt: now() + 60_000 }); // not yet delivered
      await s.create([...made, sched], now());
      await s.mark(user(a), { ids: [made[0]!.id] }, { kind: 'read' }, now());
      await s.mark(user(a), { ids: [made[1]!.id] }, { kind: 'seen' }, now());
      await s.mark(user(a), { ids: [made[2]!.id] }, { kind: 'ack', by: a }, now());
      const [sa, sb] = await s.summaries([user(a), user(b)], now());
      expect(sa).toEqual({
        unread: 3,
        unseen: 2,
        unreadByCategory: { ci: 1, billing: 1 },
        unacked: 1,
        unackedBySeverity: { info: 0, low: 0, medium: 0, high: 1, critical: 0 },
      });
      expect(sb).toMatchObject({ unread: 0, unacked: 0, unreadByCategory: {} });
      await s.mark(user(a), {}, { kind: 'archive' }, now());
      expect((await s.summaries([user(a)], now()))[0]).toMatchObject({ unread: 0, unacked: 0 });
      expect(await s.summaries([], now())).toEqual([]);
    });

    it("counts notifications to everyone in each user's summary, less their own changes", async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      // Other tests' EVERYONE rows share the database: compare against a baseline.
      const [baseA, baseB] = await s.summaries([user(a), user(b)], now());
      const all1 = item(EVERYONE, { category: 'news', severity: 'medium' });
      const all2 = item(EVERYONE, { category: 'news' });
      await s.create([all1, all2], now());
      await s.mark(user(a), { ids: [all1.id] }, { kind: 'ack', by: a }, now());
      await s.mark(user(a), { ids: [all2.id] }, { kind: 'seen' }, now());
      await s.remove(user(b), { ids: [all2.id] }, now());
      const [sa, sb] = await s.summaries([user(a), user(b)], now());
      expect(sa!.unread - baseA!.unread).toBe(2);
      expect(sa!.unseen - baseA!.unseen).toBe(1);
      expect(sa!.unacked - baseA!.unacked).toBe(0);
      expect(sb!.unread - baseB!.unread).toBe(1);
      expect(sb!.unackedBySeverity.medium - baseB!.unackedBySeverity.medium).toBe(1);
      expect((sb!.unreadByCategory['news'] ?? 0) - (baseB!.unreadByCategory['news'] ?? 0)).toBe(1);
      await s.remove({ kind: 'everyone' }, { ids: [all1.id, all2.id] }, now());
    });

    it('drops a repeated dedupKey within its window, and only within it', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const first = item(`user:${a}`, { dedupKey: 'job-7', dedupWindowMs: 60_000 });
      const [r1] = await s.create([first], first.createdAt);
      expect(r1!.outcome).toBe('created');
      const again = item(`user:${a}`, { dedupKey: 'job-7', dedupWindowMs: 60_000 });
      const [r2] = await s.create([again], again.createdAt);
      expect(r2).toMatchObject({ outcome: 'deduplicated', notification: { id: first.id } });
      // Another owner, or the same key after the window: a new notification.
      const [r3] = await s.create(
        [item(`user:${b}`, { dedupKey: 'job-7', dedupWindowMs: 60_000 })],
        now(),
      );
      expect(r3!.outcome).toBe('created');
      const late = item(`user:${a}`, { dedupKey: 'job-7', dedupWindowMs: 60_000 });
      const [r4] = await s.create([late], first.createdAt + 60_001);
      expect(r4!.outcome).toBe('created');
      expect(await s.list(user(a), {}, 10, undefined, now())).toHaveLength(2);
    });

    it('collapses onto the unread notification with the same collapseKey, in place', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const o = `user:${a}`;
      const first = item(o, { collapseKey: 'chat:bob', title: '1 message from bob' });
      await s.create([first], now());
      await s.mark(user(a), { ids: [first.id] }, { kind: 'seen' }, now());
      const second = item(o, {
        collapseKey: 'chat:bob',
        title: '2 messages from bob',
        priority: 'high',
        data: '{"n":2}',
      });
      const [r] = await s.create([second], now());
      expect(r!.outcome).toBe('collapsed');
      expect(r!.notification).toMatchObject({
        id: first.id,
        title: '2 messages from bob',
        priority: 'high',
        data: '{"n":2}',
        collapsedCount: 1,
        createdAt: first.createdAt,
        updatedAt: second.createdAt,
        seenAt: null,
      });
      expect(ids(await s.list(user(a), {}, 10, undefined, now()))).toEqual([first.id]);
      // Once read, the next one is new.
      await s.mark(user(a), {}, { kind: 'read' }, now());
      const [r2] = await s.create([item(o, { collapseKey: 'chat:bob' })], now());
      expect(r2!.outcome).toBe('created');
    });

    it('applies dedup and collapse atomically when nodes create at once', async () => {
      const nodes = await Promise.all([inbox(), inbox(), inbox(), inbox()]);
      const [a] = users(1) as [string];
      const o = `user:${a}`;
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          nodes[i % nodes.length]!.create(
            [item(o, { dedupKey: 'storm', dedupWindowMs: 60_000 })],
            now(),
          ),
        ),
      );
      const outcomes = results.map((r) => r[0]!.outcome);
      expect(outcomes.filter((x) => x === 'created')).toHaveLength(1);
      expect(outcomes.filter((x) => x === 'deduplicated')).toHaveLength(11);
      const collapse = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          nodes[i % nodes.length]!.create([item(o, { collapseKey: 'c' })], now()),
        ),
      );
      expect(collapse.map((r) => r[0]!.outcome).filter((x) => x === 'created')).toHaveLength(1);
      const rows = await nodes[0].list(user(a), {}, 50, undefined, now());
      expect(rows).toHaveLength(2);
      expect(rows.find((r) => r.collapseKey === 'c')!.collapsedCount).toBe(11);
    });

    it('stores a mark of each marked send with its rows, atomically, and reads it back', async () => {
      const s = await inbox();
      const [a, b, c] = users(3) as [string, string, string];
      const first = item(`user:${a}`, { collapseKey: 'k' });
      await s.create([first], now());
      const k1 = randomUUID();
      const k2 = randomUUID();
      // Send k1: a collapse onto `first` and a new row; send k2: one new row; then unmarked.
      const group = [
        item(`user:${a}`, { collapseKey: 'k' }),
        item(`user:${b}`),
        item(`user:${c}`),
        item(`user:${c}`),
      ];
      const out = await s.create(group, now(), [
        { key: k1, from: 0, count: 2 },
        { key: k2, from: 2, count: 1 },
      ]);
      expect(out.map((r) => r.outcome)).toEqual(['collapsed', 'created', 'created', 'created']);
      const marks = await s.appliedSends([k1, k2, randomUUID()]);
      expect(marks.size).toBe(2);
      expect(marks.get(k1)).toEqual([
        { id: first.id, outcome: 'collapsed' },
        { id: group[1]!.id, outcome: 'created' },
      ]);
      expect(marks.get(k2)).toEqual([{ id: group[2]!.id, outcome: 'created' }]);
      // A mark commits with its rows or not at all: a second send under k2 stores nothing.
      const lost = item(`user:${b}`);
      await expect(s.create([lost], now(), [{ key: k2, from: 0, count: 1 }])).rejects.toThrow();
      expect(await s.locate(lost.id, now())).toBeUndefined();
      expect((await s.appliedSends([k2])).get(k2)).toEqual([
        { id: group[2]!.id, outcome: 'created' },
      ]);
      // Retention deletes the marks older than their age limit, and only those.
      const old = randomUUID();
      await s.create([item(`user:${b}`)], T0 - 200_000, [{ key: old, from: 0, count: 1 }]);
      await s.trim({ maxAgeMs: 0, maxPerOwner: 0, sendMarksMaxAgeMs: 100_000 }, T0);
      expect([...(await s.appliedSends([old, k1])).keys()]).toEqual([k1]);
    });

    it('finds rows by id whatever their owner, status or expiry', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const mine = item(`user:${a}`);
      const later = item(`user:${b}`, { deliverAt: T0 + 86_400_000 });
      // (A feed's row: one to everyone would show in every other test's user lists.)
      const all = item(`feed-${b}`);
      const gone = item(`user:${a}`, { expiresAt: T0 + 1 });
      await s.create([mine, later, all, gone], now());
      const found = await s.byIds([mine.id, later.id, all.id, gone.id, randomUUID()]);
      expect(ids(found).sort()).toEqual([mine.id, later.id, all.id, gone.id].sort());
      expect(found.find((n) => n.id === later.id)!.status).toBe('scheduled');
      expect(await s.byIds([])).toEqual([]);
    });

    it('holds scheduled notifications until due; claims lease them; delivery makes them visible', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const o = `user:${a}`;
      const t = now();
      // Other tests' due rows share the database: this test only looks at its own.
      const mine = (rows: readonly StoredNotification[]) => rows.filter((r) => r.owner === o);
      const later = item(o, { createdAt: t, deliverAt: t + 5_000 });
      const [r] = await s.create([later], t);
      expect(r!.outcome).toBe('scheduled');
      expect(await s.list(user(a), {}, 10, undefined, t)).toEqual([]);
      expect(await s.locate(later.id, t)).toEqual({ owner: o, status: 'scheduled' });
      expect(ids(await s.list(user(a), { status: 'scheduled' }, 10, undefined, t))).toEqual([
        later.id,
      ]);
      expect(mine(await s.claimDue(t + 4_999, 1_000, 100))).toEqual([]);
      const claimed = mine(await s.claimDue(t + 5_000, 1_000, 100));
      expect(ids(claimed)).toEqual([later.id]);
      expect(mine(await s.claimDue(t + 5_500, 1_000, 100))).toEqual([]); // leased
      expect(ids(mine(await s.claimDue(t + 6_000, 1_000, 100)))).toEqual([later.id]); // lease over
      await s.markDelivered([{ id: later.id, muted: true }], t + 6_100);
      const [row] = await s.list(user(a), {}, 10, undefined, t + 6_200);
      expect(row).toMatchObject({
        id: later.id,
        status: 'delivered',
        createdAt: t + 6_100,
        muted: true,
      });
      expect(mine(await s.claimDue(t + 100_000, 1_000, 100))).toEqual([]);
    });

    it('hands each due row to one of several nodes claiming at once', async () => {
      const nodes = await Promise.all([inbox(), inbox(), inbox()]);
      const [a] = users(1) as [string];
      const t = now();
      const due = Array.from({ length: 30 }, () =>
        item(`user:${a}`, { createdAt: t, deliverAt: t + 1 }),
      );
      await nodes[0].create(due, t);
      const claims = await Promise.all(
        Array.from({ length: 9 }, (_, i) => nodes[i % 3]!.claimDue(t + 10, 60_000, 5)),
      );
      // Other tests' due rows may be claimed too: count only this test's.
      const mine = claims.flat().filter((n) => n.owner === `user:${a}`);
      expect(new Set(ids(mine)).size).toBe(mine.length);
      const rest = (await nodes[1].claimDue(t + 10, 60_000, 1000)).filter(
        (n) => n.owner === `user:${a}`,
      );
      expect(new Set([...ids(mine), ...ids(rest)]).size).toBe(30);
      expect(mine.length + rest.length).toBe(30);
    });

    it('trims by age, by count per owner, and expired rows; per-user state goes with its row', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const base = T0 - 10_000_000;
      const old = item(`user:${a}`, { createdAt: base });
      const many = Array.from({ length: 6 }, (_, i) =>
        item(`user:${b}`, { createdAt: T0 + 1_000_000 + i }),
      );
      const expiring = item(`user:${a}`, { expiresAt: T0 + 2_000_000 });
      const all = item(EVERYONE, { createdAt: base });
      await s.create([old, ...many, expiring, all], now());
      await s.mark(user(a), { ids: [all.id] }, { kind: 'read' }, now());
      const deleted = await s.trim(
        { maxAgeMs: 5_000_000, maxPerOwner: 4, sendMarksMaxAgeMs: 86_400_000 },
        T0 + 3_000_000,
      );
      expect(deleted).toBeGreaterThanOrEqual(5); // old, 2 of many, expiring, all (+ others')
      expect(await s.locate(old.id, T0)).toBeUndefined();
      expect(await s.locate(expiring.id, T0)).toBeUndefined();
      expect(await s.locate(all.id, T0)).toBeUndefined();
      expect(ids(await s.list(user(b), {}, 10, undefined, T0 + 3_000_000))).toEqual(
        ids(many.slice(2).reverse()),
      );
      expect(await s.trim({ maxAgeMs: 0, maxPerOwner: 0, sendMarksMaxAgeMs: 86_400_000 }, T0)).toBe(
        0,
      );
    });

    it('trims every owner over the count limit, owners past a slice included, with the event loop running', async () => {
      const s = await inbox();
      // More owners than one slice of the sweep (500), three notifications each, keep two.
      const owners = users(1_100).map((u) => `user:${u}`);
      const rows = owners.flatMap((o) => [item(o), item(o), item(o)]);
      for (let i = 0; i < rows.length; i += 500) await s.create(rows.slice(i, i + 500), now());
      let turns = 0;
      let trimming = true;
      const tick = () => {
        turns++;
        if (trimming) setImmediate(tick);
      };
      setImmediate(tick);
      const deleted = await s.trim(
        { maxAgeMs: 0, maxPerOwner: 2, sendMarksMaxAgeMs: 86_400_000 },
        now(),
      );
      trimming = false;
      expect(deleted).toBeGreaterThanOrEqual(owners.length); // (+ other tests' owners)
      expect(turns).toBeGreaterThanOrEqual(2); // one sweep in one turn gives 0
      for (const at of [0, 499, 500, 777, owners.length - 1]) {
        const owner = owners[at]!;
        const kept = rows
          .filter((r) => r.owner === owner)
          .slice(1)
          .reverse();
        const scope = user(owner.slice('user:'.length));
        expect(ids(await s.list(scope, {}, 10, undefined, now())), owner).toEqual(ids(kept));
      }
    });

    it('hides expired rows everywhere', async () => {
      const s = await inbox();
      const [a] = users(1) as [string];
      const n = item(`user:${a}`, { expiresAt: T0 + 1_000 });
      await s.create([n], T0);
      expect(ids(await s.list(user(a), {}, 5, undefined, T0 + 999))).toEqual([n.id]);
      expect(await s.list(user(a), {}, 5, undefined, T0 + 1_000)).toEqual([]);
      expect(await s.locate(n.id, T0 + 1_000)).toBeUndefined();
      expect(await s.mark(user(a), {}, { kind: 'read' }, T0 + 1_000)).toEqual([]);
    });

    it('keeps templates and preferences', async () => {
      const s = await inbox();
      const [a, b] = users(2) as [string, string];
      const name = `tpl-${a}`;
      expect(await s.getTemplate(name)).toBeUndefined();
      const spec = {
        title: 'Hi {{name}}',
        body: 'Order {{order}} shipped',
        priority: 'high' as const,
      };
      expect(await s.putTemplate(name, spec, T0)).toEqual({ ...spec, name, updatedAt: T0 });
      expect(await s.getTemplate(name)).toEqual({ ...spec, name, updatedAt: T0 });
      await s.putTemplate(name, { title: 'v2', body: 'b' }, T0 + 1);
      expect(await s.getTemplate(name)).toEqual({
        title: 'v2',
        body: 'b',
        name,
        updatedAt: T0 + 1,
      });
      expect((await s.listTemplates()).map((t) => t.name)).toContain(name);
      expect(await s.deleteTemplate(name)).toBe(true);
      expect(await s.deleteTemplate(name)).toBe(false);

      const prefs = await s.preferences([a, b]);
      expect(prefs.get(a)).toEqual({ mutedCategories: [], minPriority: 'low' });
      await s.putPreferences(a, { mutedCategories: ['social'], minPriority: 'high' }, T0);
      const again = await s.preferences([a, b, a]);
      expect(again.get(a)).toEqual({ mutedCategories: ['social'], minPriority: 'high' });
      expect(again.get(b)).toEqual({ mutedCategories: [], minPriority: 'low' });
    });
  });
}
