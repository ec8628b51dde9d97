import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DELIVERY_PREFERENCES,
  type DeliveryStore,
  type NewJob,
  jobId,
} from '../src/delivery/delivery-store.js';

export interface OpenDeliveryStore {
  readonly store: DeliveryStore;
  close(): Promise<void>;
}

/**
 * The DeliveryStore contract (see src/delivery/delivery-store.ts), run by every backend's
 * test file. `open` gives a new, not yet initialized store on the suite's one database over
 * a connection of its own (another node); tests name their own users.
 */
export function deliveryStoreContract(
  name: string,
  open: () => Promise<OpenDeliveryStore>,
  cleanup?: () => Promise<void>,
): void {
  describe(`DeliveryStore contract: ${name}`, () => {
    const opened: OpenDeliveryStore[] = [];
    const node = async () => {
      const o = await open();
      await o.store.init();
      opened.push(o);
      return o.store;
    };
    afterAll(async () => {
      for (const o of opened) await o.close();
      await cleanup?.();
    });

    const job = (user: string, n: string, over: Partial<NewJob> = {}): NewJob => ({
      id: jobId('email', n, `${user}@example.org`),
      channel: 'email',
      userId: user,
      notificationId: n,
      target: `${user}@example.org`,
      notBefore: 1000,
      payload: '{}',
      ...over,
    });

    it('init is idempotent and safe when several nodes start at once', async () => {
      const stores = await Promise.all([open(), open(), open()]);
      opened.push(...stores);
      await Promise.all(stores.map((s) => s.store.init()));
      await Promise.all(stores.map((s) => s.store.init()));
    });

    it('enqueues a job once per notification × channel × target', async () => {
      const s = await node();
      const u = randomUUID();
      const a = job(u, 'n1');
      const b = job(u, 'n2');
      expect(await s.enqueue([a, b], 10)).toEqual([a.id, b.id]);
      expect(await s.enqueue([a, job(u, 'n3')], 20)).toEqual([job(u, 'n3').id]);
      // More than one statement's worth, with repeats inside the batch.
      const many = Array.from({ length: 450 }, (_, i) => job(u, `m${i % 430}`));
      expect(await s.enqueue(many, 30)).toHaveLength(450);
      expect(new Set(await s.enqueue(many, 31))).toEqual(new Set());
      const jobs = await s.list({ userId: u }, 1000);
      expect(jobs).toHaveLength(433);
      expect(jobs.every((j) => j.state === 'pending' && j.attempts === 0)).toBe(true);
    });

    it('claims due jobs for one owner while the lease holds; then another may take them', async () => {
      const [s1, s2] = [await node(), await node()];
      const u = randomUUID();
      await s1.enqueue([job(u, 'a', { notBefore: 100 }), job(u, 'later', { notBefore: 5_000 })], 0);
      const mine = (await s1.claim('one', 1000, 2000, 100)).filter((j) => j.userId === u);
      expect(mine.map((j) => j.notificationId)).toEqual(['a']);
      expect((await s2.claim('two', 1500, 2500, 100)).filter((j) => j.userId === u)).toEqual([]);
      // The lease ran out (the first owner died): the job is claimed again, by another.
      const again = (await s2.claim('two', 2000, 3000, 100)).filter((j) => j.userId === u);
      expect(again.map((j) => j.notificationId)).toEqual(['a']);
      // The first owner's late answer changes nothing.
      expect(await s1.complete(mine[0]!.id, 'one', 2100)).toBe(false);
      expect(await s2.complete(mine[0]!.id, 'two', 2100)).toBe(true);
      expect((await s1.get(mine[0]!.id))?.state).toBe('sent');
      expect((await s1.get(mine[0]!.id))?.attempts).toBe(1);
    });

    it('never hands one job to two concurrent claimers', async () => {
      const stores = [await node(), await node(), await node()];
      const u = randomUUID();
      const jobs = Array.from({ length: 60 }, (_, i) => job(u, `c${i}`, { notBefore: 1 }));
      await stores[0]!.enqueue(jobs, 0);
      const claimed = await Promise.all(
        stores.flatMap((s, i) =>
          [0, 1, 2, 3].map((k) => s.claim(`owner${i}-${k}`, 10, 100_000, 7)),
        ),
      );
      const ids = claimed
        .flat()
        .filter((j) => j.userId === u)
        .map((j) => j.id);
      expect(new Set(ids).size).toBe(ids.length);
      // 12 claims of 7: every job was claimed once at most (and, with 84 places, other
      // suites' due jobs aside, most were claimed).
      expect(ids.length).toBeLessThanOrEqual(60);
    });

    it('retry puts a job back with its error and a later due time; fail and skip keep the reason', async () => {
      const s = await node();
      const u = randomUUID();
      const [a, b, c] = [job(u, 'r1'), job(u, 'r2'), job(u, 'r3')];
      await s.enqueue([a, b, c], 0);
      await s.claim('o', 2000, 3000, 1000);
      expect(await s.retry(a.id, 'o', 9000, 'SMTP: 451 try later', 2001)).toBe(true);
      expect(await s.fail(b.id, 'o', 'SMTP: 550 no such user', 2002)).toBe(true);
      expect(await s.skip(c.id, 'o', 'read in-app', 2003)).toBe(true);
      const ra = await s.get(a.id);
      expect(ra).toMatchObject({
        state: 'pending',
        attempts: 1,
        lastError: 'SMTP: 451 try later',
        notBefore: 9000,
      });
      expect(await s.get(b.id)).toMatchObject({
        state: 'failed',
        lastError: 'SMTP: 550 no such user',
      });
      expect(await s.get(c.id)).toMatchObject({ state: 'skipped', lastError: 'read in-app' });
      expect((await s.claim('o', 8999, 20_000, 1000)).some((j) => j.id === a.id)).toBe(false);
      expect((await s.claim('o', 9000, 20_000, 1000)).some((j) => j.id === a.id)).toBe(true);
      expect(await s.list({ userId: u, state: 'failed' }, 10)).toHaveLength(1);
      const counts = await s.jobCounts();
      expect(
        counts.find((c) => c.channel === 'email' && c.state === 'failed')?.count,
      ).toBeGreaterThanOrEqual(1);
    });

    it('trims finished jobs only', async () => {
      const s = await node();
      const u = randomUUID();
      const [a, b] = [job(u, 't1'), job(u, 't2')];
      await s.enqueue([a, b], 0);
      const claimed = await s.claim('o', 2000, 3000, 1000);
      expect(claimed.some((j) => j.id === a.id)).toBe(true);
      await s.complete(a.id, 'o', 2500);
      await s.trim(2600);
      expect(await s.get(a.id)).toBeUndefined();
      expect(await s.get(b.id)).toBeDefined();
    });

    it('keeps push subscriptions and webhooks per user', async () => {
      const s = await node();
      const [u, v] = [randomUUID(), randomUUID()];
      const sub = {
        id: randomUUID(),
        userId: u,
        endpoint: 'https://push.example/1',
        p256dh: 'k',
        auth: 'a',
        createdAt: 1,
      };
      await s.putSubscription(sub);
      await s.putSubscription({ ...sub, p256dh: 'k2' });
      expect(await s.subscriptions(u)).toEqual([{ ...sub, p256dh: 'k2' }]);
      const many = await s.subscriptionsOf([u, v, u]);
      expect([...many.keys()]).toEqual([u]);
      expect(many.get(u)).toEqual([{ ...sub, p256dh: 'k2' }]);
      expect(await s.deleteSubscription(v, sub.id)).toBe(false);
      expect(await s.deleteSubscription(u, sub.id)).toBe(true);
      expect(await s.subscription(sub.id)).toBeUndefined();
      const hook = {
        id: randomUUID(),
        userId: u,
        url: 'https://hooks.example/x',
        secret: 'whsec_x',
        createdAt: 2,
      };
      await s.putWebhook(hook);
      expect(await s.webhooks(u)).toEqual([hook]);
      expect((await s.webhooksOf([v, u])).get(u)).toEqual([hook]);
      expect(await s.webhook(hook.id)).toEqual(hook);
      expect(await s.deleteWebhook(v, hook.id)).toBe(false);
      expect(await s.deleteWebhook(u, hook.id)).toBe(true);
    });

    it('keeps preferences; the first writer of a setting wins on every node', async () => {
      const [s1, s2] = [await node(), await node()];
      const u = randomUUID();
      expect((await s1.preferences([u])).size).toBe(0);
      const prefs = {
        ...DEFAULT_DELIVERY_PREFERENCES,
        email: 'a@example.org',
        digest: 'daily' as const,
      };
      await s1.putPreferences(u, prefs, 1);
      expect((await s2.preferences([u, randomUUID()])).get(u)).toEqual(prefs);
      const key = `k-${randomUUID()}`;
      const [x, y] = await Promise.all([s1.setting(key, 'one'), s2.setting(key, 'two')]);
      expect(x).toBe(y);
      expect(await s2.setting(key, 'three')).toBe(x);
    });

    it('adds counters atomically from several nodes', async () => {
      const [s1, s2] = [await node(), await node()];
      const cat = `cat-${randomUUID()}`;
      const inc = {
        bucket: 3_600_000,
        category: cat,
        channel: 'email',
        counter: 'sent' as const,
        count: 1,
        sumMs: 0,
      };
      await Promise.all([
        ...Array.from({ length: 10 }, () => s1.addCounts([inc])),
        ...Array.from({ length: 10 }, () =>
          s2.addCounts([inc, { ...inc, counter: 'read', sumMs: 500 }]),
        ),
      ]);
      const rows = (await s1.stats(0, 7_200_000)).filter((r) => r.category === cat);
      expect(rows.find((r) => r.counter === 'sent')?.count).toBe(20);
      expect(rows.find((r) => r.counter === 'read')).toMatchObject({ count: 10, sumMs: 5000 });
      expect((await s1.stats(7_200_000, 9_000_000)).filter((r) => r.category === cat)).toEqual([]);
    });
  });
}
