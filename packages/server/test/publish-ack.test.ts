import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from './helpers.js';
import { RawSse } from './sse-client.js';

// The publish answer names each durable event as the stream names it: `streamId` is the
// `id:` line that a stream of the event's channel alone carries for it (raw socket here).

let t: TestServer;
const streams: RawSse[] = [];

beforeAll(async () => {
  t = await startServer();
});
afterAll(async () => {
  for (const s of streams) s.close();
  await t.close();
});

/** A raw stream of one channel (`/events?channels=`) or of a user (`/events/:user`). */
async function stream(path: string, sub: string, channels: string[] = []): Promise<RawSse> {
  const token = await t.token(sub, { channels });
  const s = await RawSse.open(`${t.url}${path}`, { authorization: `Bearer ${token}` });
  streams.push(s);
  await waitFor(() => s.of('connected').length === 1, 5000, `${path} connected`);
  return s;
}

/** The id: line of the `n`th event of `type` on `s`, once it arrived. */
async function wireId(s: RawSse, type: string, n = 0): Promise<string | undefined> {
  await waitFor(() => s.of(type).length > n, 5000, `${type} #${n}`);
  return s.of(type)[n]!.id;
}

type Ack = { id: string; channel: string; seq?: number; streamId?: string };

async function acked(path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await t.post(path, body, headers);
  expect(r.status).toBe(202);
  return r.body.events as Ack[];
}

describe('the publish ack names each event by its stream id', () => {
  it('single and batched /publish', async () => {
    const one = await stream('/events?channels=ack:one', 's1', ['ack:*']);
    const [single] = await acked('/publish', { channel: 'ack:one', data: 1 });
    expect(single!.streamId).toMatch(/^[A-Za-z0-9_-]{8}\.1$/);
    expect(single!.streamId).toBe(await wireId(one, 'message'));

    const b1 = await stream('/events?channels=ack:b1', 's2', ['ack:*']);
    const b2 = await stream('/events?channels=ack:b2', 's3', ['ack:*']);
    const batch = await acked('/publish', { channels: ['ack:b1', 'ack:b2', 'ack:one'], data: 2 });
    expect(batch.map((e) => e.channel)).toEqual(['ack:b1', 'ack:b2', 'ack:one']);
    expect(batch[0]!.streamId).toBe(await wireId(b1, 'message'));
    expect(batch[1]!.streamId).toBe(await wireId(b2, 'message'));
    expect(batch[2]!.streamId).toBe(await wireId(one, 'message', 1));
    // Each channel has its own tag: the ids differ though the sequences are all 1.
    expect(new Set(batch.slice(0, 2).map((e) => e.streamId)).size).toBe(2);
  });

  it('resumes right after the acknowledged event as a per-channel cursor', async () => {
    const [first] = await acked('/publish', { channel: 'ack:resume', data: 'a' });
    await acked('/publish', { channel: 'ack:resume', data: 'b' });
    const s = await stream(
      `/events?channels=ack:resume,ack:other&lastEventId=${encodeURIComponent(`ack:resume=${first!.streamId}`)}`,
      's4',
      ['ack:*'],
    );
    await waitFor(() => s.of('message').length === 1);
    expect(s.of('reset')).toEqual([]);
    expect(s.of('message').map((e) => JSON.parse(e.data) as unknown)).toEqual(['b']);
  });

  it('/notify, /broadcast to users and to everyone, and /notifications', async () => {
    const alice = await stream('/events/alice', 'alice');
    const bob = await stream('/events/bob', 'bob');
    const note = { title: 't', message: 'm' };
    const [toAlice] = await acked('/notify/alice', note);
    expect(toAlice!.channel).toBe('user:alice');
    expect(toAlice!.streamId).toBe(await wireId(alice, 'notification'));

    const both = await acked('/broadcast', { users: ['alice', 'bob'], ...note });
    const byChannel = new Map(both.map((e) => [e.channel, e.streamId]));
    expect(byChannel.get('user:alice')).toBe(await wireId(alice, 'notification', 1));
    expect(byChannel.get('user:bob')).toBe(await wireId(bob, 'notification'));

    const everyone = await stream('/events?channels=broadcast', 'carol');
    const [all] = await acked('/broadcast', note);
    expect(all!.channel).toBe('broadcast');
    expect(all!.streamId).toBe(await wireId(everyone, 'notification'));

    const feed = await stream('/events?channels=ack:feed', 'dave', ['ack:*']);
    const [fed] = await acked('/notifications', { channel: 'ack:feed', ...note });
    expect(fed!.streamId).toBe(await wireId(feed, 'notification'));
  });

  it('a collapsed send, and an Idempotency-Key replay', async () => {
    const erin = await stream('/events/erin', 'erin');
    const first = await acked('/notify/erin', { title: 'a', message: '1', collapseKey: 'k' });
    const again = await acked('/notify/erin', { title: 'a', message: '2', collapseKey: 'k' });
    expect(first[0]!.streamId).toBe(await wireId(erin, 'notification'));
    expect(again[0]!.streamId).toBe(await wireId(erin, 'notification.updated'));

    const key = { 'idempotency-key': 'ack-replay-1' };
    const sent = await acked('/publish', { channel: 'ack:idem', data: 3 }, key);
    const replay = await t.post('/publish', { channel: 'ack:idem', data: 3 }, key);
    expect(replay.status).toBe(202);
    expect(replay.body.events).toEqual(sent);
  });

  it('has no streamId for an ephemeral event, which has no id on the wire', async () => {
    const s = await stream('/events?channels=ack:eph', 's5', ['ack:*']);
    const [eph] = await acked('/publish', { channel: 'ack:eph', data: 4, durable: false });
    expect(eph).not.toHaveProperty('streamId');
    expect(eph).not.toHaveProperty('seq');
    expect(await wireId(s, 'message')).toBeUndefined();
  });
});
