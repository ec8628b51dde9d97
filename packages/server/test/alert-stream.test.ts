import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

const parse = (c: RawSse, type: string) => c.of(type).map((e) => JSON.parse(e.data));

async function ack(t: TestServer, id: string, token: string) {
  const res = await fetch(`${t.url}/events/${id}/ack`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('alert stream (seed 003)', () => {
  let t: TestServer;
  const open: RawSse[] = [];
  beforeAll(async () => {
    t = await startServer({ alertHistoryMax: 2, alertHistoryWindowSec: 3600, alertPingMs: 150 });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await t.close();
  });

  async function stream(query: string, token: string): Promise<RawSse> {
    const c = await RawSse.open(`${t.url}/alerts/stream${query}`, {
      authorization: `Bearer ${token}`,
    });
    open.push(c);
    return c;
  }

  it('sends summary, then historical (the window, at most the max), then live new_event, ack_event, summary', async () => {
    const token = await t.token('kim');
    // Older than the window: never in historical.
    await t.server.inbox.store.create(
      [
        {
          id: randomUUID(),
          owner: 'user:kim',
          title: 'Ancient',
          body: 'b',
          priority: 'normal',
          severity: 'low',
          createdAt: Date.now() - 2 * 3600_000,
          eventType: 'notification',
          durable: true,
          muted: false,
        },
      ],
      Date.now(),
    );
    const sent: string[] = [];
    for (const [title, severity] of [
      ['Disk 80%', 'medium'],
      ['Disk 90%', 'high'],
      ['Disk 95%', 'critical'],
    ]) {
      sent.push((await t.post('/notify/kim', { title, message: 'm', severity })).body.ids[0]);
    }
    const c = await stream('', token);
    await waitFor(() => c.of('historical').length === 1, 5000, 'historical');
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    // Pings come from a shared timer and may fall anywhere: order is checked without them.
    expect(c.events.map((e) => e.event).filter((e) => e !== 'ping')).toEqual([
      'summary',
      'historical',
    ]);
    expect(parse(c, 'summary')[0]).toMatchObject({
      unacked: 4,
      unackedBySeverity: { low: 1, medium: 1, high: 1, critical: 1 },
    });
    const historical = parse(c, 'historical')[0];
    expect(historical).toMatchObject({ windowSec: 3600, limit: 2 });
    expect(historical.events.map((e: any) => e.title)).toEqual(['Disk 95%', 'Disk 90%']);

    const live = await t.post('/notify/kim', { title: 'CPU 99%', message: 'm', severity: 'high' });
    const id = live.body.ids[0];
    await waitFor(() => c.of('new_event').length === 1 && c.of('summary').length === 2);
    expect(parse(c, 'new_event')[0]).toMatchObject({
      id,
      title: 'CPU 99%',
      severity: 'high',
      acked: false,
    });
    expect(parse(c, 'summary')[1].unackedBySeverity.high).toBe(2);

    const second = await stream('', token); // another viewer of the same inbox
    await waitFor(() => second.of('historical').length === 1);
    const res = await ack(t, id, token);
    expect(res.status).toBe(200);
    for (const viewer of [c, second]) {
      await waitFor(() => viewer.of('ack_event').length === 1, 5000, 'ack_event');
      expect(parse(viewer, 'ack_event')[0]).toEqual({
        ids: [id],
        ackedAt: expect.any(String),
        ackedBy: 'kim',
      });
    }
    await waitFor(() => c.of('summary').length === 3);
    expect(parse(c, 'summary')[2].unackedBySeverity.high).toBe(1);
    const names = c.events.map((e) => e.event).filter((e) => e !== 'ping');
    expect(names).toEqual([
      'summary',
      'historical',
      'new_event',
      'summary',
      'ack_event',
      'summary',
    ]);
    // Nothing else of the inbox leaks into this stream (reads are not alert events).
    await fetch(`${t.url}/notifications/${id}/read`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    await waitFor(() => c.of('summary').length === 4);
    expect(c.events.some((e) => e.event.startsWith('notification'))).toBe(false);
  });

  it('pings every stream from one shared timer', async () => {
    const token = await t.token('lee');
    const a = await stream('', token);
    const b = await stream('', token);
    await waitFor(() => a.of('ping').length >= 2 && b.of('ping').length >= 2, 5000, 'pings');
    // One tick writes the same ping to every stream.
    const times = (c: RawSse) => new Set(parse(c, 'ping').map((p) => p.time));
    const shared = [...times(a)].filter((x) => times(b).has(x));
    expect(shared.length).toBeGreaterThanOrEqual(1);
  });

  it('streams a shared feed: an ack by one viewer reaches every viewer at once', async () => {
    const channel = `alerts-${randomUUID().slice(0, 8)}`;
    const v1 = await t.token('mia', { channels: [channel] });
    const v2 = await t.token('ned', { channels: [channel] });
    const a = await stream(`?channel=${channel}`, v1);
    const b = await stream(`?channel=${channel}`, v2);
    await waitFor(() => a.of('historical').length === 1 && b.of('historical').length === 1);
    const res = await fetch(`${t.url}/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-herald-key': API_KEY },
      body: JSON.stringify({ channel, title: 'Rule fired', message: 'm', severity: 'critical' }),
    });
    const id = ((await res.json()) as any).ids[0];
    await waitFor(() => a.of('new_event').length === 1 && b.of('new_event').length === 1);
    expect((await ack(t, id, v2)).body.notification).toMatchObject({ ackedBy: 'ned' });
    await waitFor(() => a.of('ack_event').length === 1 && b.of('ack_event').length === 1);
    expect(parse(a, 'ack_event')[0]).toMatchObject({ ids: [id], ackedBy: 'ned' });
    // A token that may not read the feed gets neither the stream nor the alert.
    const outsider = await t.token('oz');
    const refused = await stream(`?channel=${channel}`, outsider);
    await waitFor(() => refused.ended);
    expect(refused.status).toBe(403);
    expect((await ack(t, id, outsider)).status).toBe(404);
  });
});

describe('alert stream shutdown', () => {
  it('sends shutdown to every alert stream when the server closes', async () => {
    const t = await startServer({ retryMs: 1234 });
    const token = await t.token('pat');
    const streams = await Promise.all(
      [0, 1].map(() => RawSse.open(`${t.url}/alerts/stream`, { authorization: `Bearer ${token}` })),
    );
    await waitFor(() => streams.every((s) => s.of('historical').length === 1));
    await t.close();
    for (const s of streams) {
      await waitFor(() => s.ended, 5000, 'stream to end');
      expect(JSON.parse(s.of('shutdown')[0]!.data)).toEqual({
        reason: 'server-shutdown',
        retryMs: 1234,
      });
      expect(s.retry).toBe(1234);
    }
    expect(t.server.hub.sessions.size).toBe(0);
  });
});
