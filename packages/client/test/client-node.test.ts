import { EventSource as NodeEventSource } from 'eventsource';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../../server/test/helpers.js';
import { Herald, type HeraldEvent } from '../src/index.js';

// Node tests of the browser client against a real Herald on an ephemeral port.
let srv: TestServer;
const clients: Herald[] = [];

beforeAll(async () => {
  srv = await startServer({ retryMs: 50 });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await srv.close();
});

function client(opts: ConstructorParameters<typeof Herald>[0]): Herald {
  const h = new Herald({
    url: srv.url,
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
    ...opts,
  });
  clients.push(h);
  return h;
}

async function publish(channel: string, data: unknown, type = 'message') {
  const r = await srv.post('/publish', { channel, type, data });
  expect(r.status).toBe(202);
  return r.body;
}

type Msg = { n: number };

describe('Herald client over fetch (Node)', () => {
  it('connects, delivers typed events once, and tracks the cursor', async () => {
    const token = await srv.token('alice', { channels: ['news'] });
    const h = new Herald<{ note: Msg; message: string }>({
      url: srv.url,
      channels: ['user:alice', 'news'],
      getToken: () => token,
    });
    clients.push(h as unknown as Herald);
    expect(h.state).toBe('connecting'); // autoConnect: the constructor started it
    const states: string[] = [];
    h.on('state', (s) => states.push(s.state));
    const got: HeraldEvent[] = [];
    h.on('event', (e) => {
      if (e.type === 'note') {
        const n: number = e.data.n; // narrowed by type
        expect(typeof n).toBe('number');
      }
      got.push(e);
    });
    const news: unknown[] = [];
    h.subscribe('news', (e) => news.push(e.data));
    await waitFor(() => h.state === 'connected');
    expect(h.transport).toBe('fetch');
    await publish('news', { n: 1 }, 'note');
    await publish('user:alice', 'plain text');
    await waitFor(() => got.length === 2);
    expect(got[0]).toMatchObject({ type: 'note', data: { n: 1 }, text: '{"n":1}' });
    expect(got[1]).toMatchObject({ type: 'message', data: 'plain text' });
    expect(got[1]!.id).toBe(h.cursor);
    expect(news).toEqual([{ n: 1 }]);
    expect(states).toEqual(['connected']);
    h.close();
    expect(h.state).toBe('closed');
    // Closing lets the connection go: the server holds no stream for it any more.
    await waitFor(async () => {
      const r = await fetch(srv.url + '/healthz');
      return ((await r.json()) as { connections: number }).connections === 0;
    });
  });

  it('resumes across a server restart, every event exactly once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'herald-client-'));
    let one = await startServer({ retryMs: 50, dataDir }, { keepData: true });
    const port = one.port;
    // The next process may sign with a new secret: getToken asks whichever server is up.
    const h = client({ url: one.url, channels: ['user:bob'], getToken: () => one.token('bob') });
    const seen: number[] = [];
    const resets: unknown[] = [];
    h.on('reset', (r) => resets.push(r));
    h.on('event', (e) => seen.push((e.data as Msg).n));
    await waitFor(() => h.state === 'connected');
    const pub = (n: number) => one.post('/publish', { channel: 'user:bob', data: { n } });
    for (let n = 0; n < 30; n++) await pub(n);
    await waitFor(() => seen.length >= 10);
    // Same port and data: the client reconnects with its cursor and gets what it missed.
    await one.close();
    one = await startServer({ retryMs: 50, port, dataDir }, { keepData: true });
    for (let n = 30; n < 60; n++) await pub(n);
    await waitFor(() => seen.length >= 60, 20_000, `all 60 events (${seen.length})`);
    expect(seen).toEqual([...Array(60).keys()]);
    expect(resets).toEqual([]);
    h.close();
    await one.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refreshes the token before exp mid-stream without losing an event', async () => {
    let calls = 0;
    const h = client({
      channels: ['user:carol'],
      getToken: async () => {
        calls++;
        return srv.token('carol', { ttlSec: 2 });
      },
    });
    const seen: number[] = [];
    h.on('event', (e) => seen.push((e.data as Msg).n));
    await waitFor(() => h.state === 'connected');
    let n = 0;
    while (calls < 3) {
      await publish('user:carol', { n: n++ });
      await new Promise((r) => setTimeout(r, 50)); // a steady trickle of events, not a wait for luck
    }
    await publish('user:carol', { n: n++ });
    await waitFor(() => seen.length === n, 10_000, `${n} events`);
    expect(seen).toEqual([...Array(n).keys()]);
  });

  it('surfaces reset for a cursor the server cannot resume, then streams on', async () => {
    const token = await srv.token('dave');
    const h = client({ channels: ['user:dave'], getToken: () => token, cursor: 'not-a-cursor' });
    const resets: unknown[] = [];
    const errors: string[] = [];
    h.on('reset', (r) => resets.push(r));
    h.on('error', (e) => errors.push(e.code));
    const seen: unknown[] = [];
    h.on('event', (e) => seen.push(e.data));
    await waitFor(() => resets.length === 1);
    expect(resets[0]).toEqual({ reason: 'invalid-cursor', channels: ['user:dave'] });
    expect(errors).toContain('reset');
    await publish('user:dave', 'after');
    await waitFor(() => seen.length === 1);
  });

  it('adds and drops channels at run time, losing nothing on the channel it keeps', async () => {
    const token = await srv.token('erin', { channels: ['room:a', 'room:b'] });
    const h = client({ channels: ['room:a'], getToken: () => token });
    const a: number[] = [];
    const b: number[] = [];
    h.subscribe('room:a', (e) => a.push((e.data as Msg).n));
    await waitFor(() => h.state === 'connected');
    let n = 0;
    const pub = async (count: number) => {
      for (let i = 0; i < count; i++) await publish('room:a', { n: n++ });
    };
    await pub(5);
    const sub = h.subscribe('room:b', (e) => b.push((e.data as Msg).n));
    await pub(5);
    await waitFor(() => h.state === 'connected' && h.channels.includes('room:b'));
    await waitFor(async () => {
      await publish('room:b', { n: -1 });
      return b.length > 0;
    });
    sub.unsubscribe();
    expect(h.channels).toEqual(['room:a']);
    await pub(5);
    await waitFor(() => a.length === n, 10_000, `${n} events on room:a`);
    expect(a).toEqual([...Array(n).keys()]);
  });

  it('falls back to EventSource (the real eventsource package) with the same cursor', async () => {
    const token = await srv.token('frank');
    const h = client({
      channels: ['user:frank'],
      getToken: () => token,
      transport: 'eventsource',
      EventSource: NodeEventSource as unknown as typeof EventSource,
    });
    const seen: number[] = [];
    h.on('event', (e) => seen.push((e.data as Msg).n));
    await waitFor(() => h.state === 'connected');
    expect(h.transport).toBe('eventsource');
    await publish('user:frank', { n: 0 });
    await waitFor(() => seen.length === 1);
    expect(h.cursor).not.toBeNull();
  });

  it('polls with the same cursor, and switches transports losing nothing', async () => {
    const token = await srv.token('gina');
    const h = client({ channels: ['user:gina'], getToken: () => token });
    const seen: number[] = [];
    h.on('event', (e) => seen.push((e.data as Msg).n));
    await waitFor(() => h.state === 'connected');
    let n = 0;
    await publish('user:gina', { n: n++ });
    await waitFor(() => seen.length === n);
    h.setTransport('poll'); // the app's kill switch
    await waitFor(() => h.transport === 'poll' && h.state === 'connected');
    for (let i = 0; i < 5; i++) await publish('user:gina', { n: n++ });
    await waitFor(() => seen.length === n, 10_000, 'events while polling');
    h.setTransport('auto');
    await waitFor(() => h.transport === 'fetch' && h.state === 'connected');
    for (let i = 0; i < 5; i++) await publish('user:gina', { n: n++ });
    await waitFor(() => seen.length === n, 10_000, 'events after the switch back');
    expect(seen).toEqual([...Array(n).keys()]);
  });
});
