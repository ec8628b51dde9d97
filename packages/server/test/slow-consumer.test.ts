import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse, stalledClient } from './sse-client.js';
import { startServer, waitFor, type TestServer } from './helpers.js';

describe('slow consumers', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ sendBufferBytes: 256 * 1024 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('cuts a client that stops reading, spares a fast one, and the slow one resumes losslessly', async () => {
    const token = await t.token('slow', { channels: ['firehose'] });
    const slow = await stalledClient(t.port, '/events?channels=firehose', token);
    const fast = await RawSse.open(`${t.url}/events?channels=firehose`, {
      authorization: `Bearer ${token}`,
    });
    await waitFor(() => fast.of('connected').length === 1);

    const chunk = 'x'.repeat(16 * 1024);
    const total = 600; // ~10 MB: far beyond the 256 KiB budget plus kernel socket buffers
    for (let i = 0; i < total; i++) {
      const res = await t.post('/publish', {
        channel: 'firehose',
        type: 'big',
        data: `${i}:${chunk}`,
      });
      expect(res.status).toBe(202);
    }
    await waitFor(() => fast.of('big').length === total, 30_000, 'fast client to get everything');
    await waitFor(() => t.server.hub.stats.slowConsumers >= 1, 30_000, 'slow consumer to be cut');
    expect(t.server.hub.sessions.size).toBe(1); // only the fast one is left
    expect(fast.of('big').map((e) => Number(JSON.parse(e.data).split(':')[0]))).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    slow.socket.destroy();

    // The slow client comes back with the cursor it had and gets every event, in order.
    const again = await RawSse.open(`${t.url}/events?channels=firehose`, {
      authorization: `Bearer ${token}`,
      'last-event-id': slow.cursor,
    });
    await waitFor(() => again.of('big').length === total, 30_000, 'slow client to resume');
    expect(again.of('big').map((e) => Number(JSON.parse(e.data).split(':')[0]))).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    expect(again.of('reset')).toHaveLength(0);
    again.close();
    fast.close();
  });
});
