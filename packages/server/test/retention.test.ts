import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { startServer, waitFor, type TestServer } from './helpers.js';

describe('retention and reset', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ retentionMaxEvents: 5 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('tells a client whose cursor is older than retention with a reset, then sends what is kept', async () => {
    const token = await t.token('alice', { channels: ['news', 'other'] });
    const first = await RawSse.open(`${t.url}/events?channels=news,other`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => first.of('connected').length === 1);
    const cursor = first.of('connected')[0]!.id!;
    first.close();
    for (let i = 1; i <= 12; i++)
      await t.post('/publish', { channel: 'news', type: 'n', data: String(i) });
    await t.post('/publish', { channel: 'other', type: 'o', data: 'kept' });
    const deleted = await t.server.hub.store.trim({ maxAgeMs: 0, maxEvents: 5 }, Date.now());
    expect(deleted).toBe(7);

    const c = await RawSse.open(`${t.url}/events?channels=news,other`, {
      authorization: `Bearer ${token}`,
      'last-event-id': cursor,
    });
    await waitFor(() => c.of('n').length === 5 && c.of('o').length === 1);
    const reset = JSON.parse(c.of('reset')[0]!.data);
    expect(reset).toEqual({ reason: 'expired', channels: ['news'] });
    expect(c.of('n').map((e) => JSON.parse(e.data) as unknown)).toEqual([
      '8',
      '9',
      '10',
      '11',
      '12',
    ]);
    // The reset comes before any replayed event.
    expect(c.events.findIndex((e) => e.event === 'reset')).toBeLessThan(
      c.events.findIndex((e) => e.event === 'n'),
    );
    c.close();
  });

  it('trims by age', async () => {
    await t.post('/publish', { channel: 'aged', data: 'old' });
    const deleted = await t.server.hub.store.trim({ maxAgeMs: 1, maxEvents: 0 }, Date.now() + 1000);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const [head] = await t.server.hub.store.ensureChannels(['aged']);
    expect(head!.trimmedSeq).toBe(head!.seq);
  });
});
