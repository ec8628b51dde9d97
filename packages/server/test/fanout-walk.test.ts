import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { startServer, waitFor, type TestServer } from './helpers.js';

/**
 * The hub writes a channel's pending events to its subscribers in slices of 500 per turn
 * (Hub `walk`), and events published while a pass is under way join it. With more
 * subscribers than a slice and publishes arriving during the walk, every subscriber must
 * still get every event once, in order, with the cursor of that event.
 */
describe('fan-out walk over a channel wider than one slice', () => {
  const SUBSCRIBERS = 1_200;
  const EVENTS = 40;
  let t: TestServer;
  const clients: RawSse[] = [];

  beforeAll(async () => {
    t = await startServer({ rateLimitConnectPerIp: 0, rateLimitConnectPerUser: 0 });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await t.close();
  });

  it('gives every subscriber every event once and in order, events published mid-walk included', async () => {
    for (let i = 0; i < SUBSCRIBERS; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, SUBSCRIBERS - i) }, async (_, k) => {
          const token = await t.token(`walker-${i + k}`, { channels: ['room:wide'] });
          return RawSse.open(`${t.url}/events?channels=room:wide`, {
            authorization: `Bearer ${token}`,
          });
        }),
      );
      clients.push(...batch);
    }
    await waitFor(() => clients.every((c) => c.of('connected').length === 1), 20_000, 'all up');

    // Publishes in flight together: they reach the server over several turns, while the walk
    // of the first ones is still going round the 1,200 subscribers.
    const answers = await Promise.all(
      Array.from({ length: EVENTS }, (_, n) =>
        t.post('/publish', { channel: 'room:wide', data: { n } }),
      ),
    );
    expect(answers.every((a) => a.status === 202)).toBe(true);

    await waitFor(
      () => clients.every((c) => c.of('message').length >= EVENTS),
      20_000,
      'every event at every subscriber',
    );
    const bySeq = new Map<number, number>();
    for (const [i, c] of clients.entries()) {
      const got = c.of('message');
      expect(got.length, `subscriber ${i}`).toBe(EVENTS);
      const seqs = got.map((e) => parseInt(e.id!.split('.').pop()!, 36));
      expect(seqs, `subscriber ${i}`).toEqual(Array.from({ length: EVENTS }, (_, k) => k + 1));
      for (const e of got) {
        const seq = parseInt(e.id!.split('.').pop()!, 36);
        const n = (JSON.parse(e.data) as { n: number }).n;
        if (!bySeq.has(seq)) bySeq.set(seq, n);
        // The same event (same payload) under the same sequence at every subscriber.
        expect(bySeq.get(seq)).toBe(n);
      }
    }
    expect(new Set(bySeq.values()).size).toBe(EVENTS);
  });

  it("does not make a small channel wait for a wide channel's whole walk", async () => {
    const token = await t.token('walker-small', { channels: ['room:small'] });
    const small = await RawSse.open(`${t.url}/events?channels=room:small`, {
      authorization: `Bearer ${token}`,
    });
    clients.push(small);
    await waitFor(() => small.of('connected').length === 1, 5000, 'small up');

    // Receipt order over all the streams (the server runs in this process: each turn's
    // writes are read before the walk's next slice is written).
    const order: string[] = [];
    const wide = clients.slice(0, SUBSCRIBERS);
    for (const [i, c] of [...wide.entries(), [-1, small] as const]) {
      const push = c.events.push.bind(c.events);
      c.events.push = (...items) => {
        for (const e of items) if (e.event === 'message') order.push(i === -1 ? 'small' : 'wide');
        return push(...items);
      };
    }
    // One request, one commit: the wide channel's event is fanned out first, then the small
    // one's, in the same turn.
    const answer = await t.post('/publish', {
      channels: ['room:wide', 'room:small'],
      data: { fair: true },
    });
    expect(answer.status).toBe(202);
    await waitFor(() => order.length === SUBSCRIBERS + 1, 20_000, 'both delivered');
    // The wide walk takes three slices (500 subscribers each). The small channel is served
    // in the second, before about 700 wide subscribers; had it waited for the wide channel's
    // whole walk, at most the last slice's 200 could follow it.
    const wideAfterSmall = order.length - 1 - order.indexOf('small');
    expect(wideAfterSmall).toBeGreaterThanOrEqual(400);
  });
});
