// Server CPU per stream opened (issue 3: reconnect storms). Starts the built Herald pinned to
// core 0, opens N SSE streams with distinct HS256 tokens over raw sockets, and reads the
// server's CPU time (all threads, /proc/<pid>/stat) before and after each round. The first
// round warms the JIT and is shown but left out of the summary.
//
//   taskset -c 1 node bench/tools/connect-cost.js [--streams 2000] [--rounds 6]
//        [--channels shared|user]  shared: every stream on "bench"; user: stream i on "user:i"
//                                  (a new channel state per stream)
//        [--replay K]              publish K durable events to each stream's channel first and
//                                  connect with a cursor before them, so each stream replays K
//                                  events (with --channels user: the reconnect storm's resume)
//        [--concurrency 50] [--cli packages/server/dist/cli.js] [--cpu-prof DIR]
//        [--node-args=--perf-basic-prof]   more flags for the server's node
//        [--signal SIGUSR2]        sent to the server before it is stopped: a profiler
//                                  preloaded with --node-args (bench/tools/alloc-agent.js)
//                                  writes what it recorded
//        [--floor]                 the plain Node floor (bench/peers/node-floor.js) instead of
//                                  Herald: what Node's own accept, parse, first write and close
//                                  cost per stream (no auth, no cursor; not with --replay)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { cpuTimes } from '../lib/stats.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '6' },
    channels: { type: 'string', default: 'shared' },
    replay: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '50' },
    cli: { type: 'string', default: 'packages/server/dist/cli.js' },
    'cpu-prof': { type: 'string', default: '' },
    'node-args': { type: 'string', default: '' },
    floor: { type: 'boolean', default: false },
    signal: { type: 'string', default: '' },
  },
});
const floor = values.floor;
if (floor && Number(values.replay) > 0) throw new Error('--floor stores nothing to replay');
const streams = Number(values.streams);
const rounds = Number(values.rounds);
const replay = Number(values.replay);
const concurrency = Number(values.concurrency);
const perUser = values.channels === 'user';

const API_KEY = 'bench-api-key-0123456789abcdef';
const SECRET = 'bench-jwt-secret-0123456789abcdef-0123456789';
const port = await freePort();
const dataDir = mkdtempSync(join(tmpdir(), 'herald-connect-cost-'));
const profArgs = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
const serverArgs = floor
  ? [resolve('bench/peers/node-floor.js'), String(port)]
  : [
      resolve(values.cli),
      'serve',
      ...['--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir],
      ...['--api-keys', API_KEY, '--jwt-secret', SECRET, '--log-level', 'warn'],
      // One address opens every stream here; the per-address connect limit would refuse them.
      ...['--rate-limit-connect-per-ip', '0', '--drain-window-ms', '0', '--workers', '1'],
    ];
const server = spawn(
  'taskset',
  [
    '-c',
    '0',
    process.execPath,
    ...profArgs,
    ...values['node-args'].split(' ').filter(Boolean),
    ...serverArgs,
  ],
  // The floor exits when its stdin ends: it stays open until the server is killed.
  { stdio: ['pipe', 'inherit', 'inherit'] },
);

try {
  await waitFor(async () => (await health()) !== undefined, 30_000);
  const tokens = await mintTokens();
  const cursors = replay > 0 ? await (perUser ? seedUsers() : seedReplay()) : undefined;
  const perStream = [];
  for (let round = 0; round < rounds; round++) {
    const before = cpuTimes(server.pid);
    const t0 = performance.now();
    const sockets = await openAll(tokens, cursors);
    const seconds = (performance.now() - t0) / 1000;
    // The last streams' setup ends after their last byte was sent (going live).
    await new Promise((r) => setTimeout(r, 200));
    const after = cpuTimes(server.pid);
    const ms = ((after.user + after.sys - before.user - before.sys) * 1000) / streams;
    if (round > 0) perStream.push(ms);
    console.log(
      `round ${round}${round === 0 ? ' (warm-up)' : ''}: ${ms.toFixed(3)} ms server CPU per stream` +
        ` (user ${((after.user - before.user) * 1000).toFixed(0)} ms,` +
        ` sys ${((after.sys - before.sys) * 1000).toFixed(0)} ms),` +
        ` ${Math.round(streams / seconds)} streams/s`,
    );
    for (const s of sockets) s.destroy();
    // The floor counts no connections: its closes are given a moment.
    if (floor) await new Promise((r) => setTimeout(r, 1000));
    else await waitFor(async () => (await health())?.connections === 0, 30_000);
  }
  perStream.sort((a, b) => a - b);
  const median = perStream[Math.floor(perStream.length / 2)] ?? NaN;
  console.log(
    `${streams} streams x ${rounds - 1} rounds, channels=${values.channels}, replay=${replay}:` +
      ` median ${median.toFixed(3)} ms, range ${perStream[0]?.toFixed(3)}-${perStream.at(-1)?.toFixed(3)} ms`,
  );
  if (values.signal) {
    process.kill(server.pid, values.signal);
    await new Promise((r) => setTimeout(r, 3000));
  }
} finally {
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
  rmSync(dataDir, { recursive: true, force: true });
}

async function mintTokens() {
  const key = new TextEncoder().encode(SECRET);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const out = [];
  for (let i = 0; i < streams; i++) {
    out.push(
      await new SignJWT({ channels: ['bench'] })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(String(i))
        .setExpirationTime(exp)
        .sign(key),
    );
  }
  return out;
}

/**
 * Publishes `replay` durable events to "bench" and returns a cursor from before the first:
 * the tag is read from the first event's `id:` on a probe stream.
 */
async function seedReplay() {
  const [token] = await mintTokens();
  const probe = openStream(token, undefined, (text) => /\nid: [^\n]+\n/.test(text));
  await waitFor(async () => (await health())?.connections === 1, 10_000);
  const publish = (data) =>
    fetch(`http://127.0.0.1:${port}/publish`, {
      method: 'POST',
      headers: { 'X-Herald-Key': API_KEY, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'bench', data, durable: true }),
    }).then((r) => r.arrayBuffer());
  await publish({ n: 0 });
  const { socket, text } = await probe;
  socket.destroy();
  const id = /\nid: ([^\n]+)\n/.exec(text)?.[1] ?? '';
  for (let n = 1; n < replay; n++) await publish({ n, pad: 'x'.repeat(80) });
  return Array.from({ length: streams }, () => id.replace(/\.[0-9a-z]+$/, '.0'));
}

/**
 * Publishes `replay` durable events to every `user:i`, 50 channels per request, and returns
 * each user's cursor from before its first: the tag of the first event's `streamId`.
 */
async function seedUsers() {
  const cursors = new Array(streams).fill('');
  for (let n = 0; n < replay; n++) {
    for (let first = 0; first < streams; first += 50) {
      const channels = [];
      for (let i = first; i < Math.min(streams, first + 50); i++) channels.push(`user:${i}`);
      const res = await fetch(`http://127.0.0.1:${port}/publish`, {
        method: 'POST',
        headers: { 'X-Herald-Key': API_KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channels, data: { n, pad: 'x'.repeat(80) }, durable: true }),
      });
      const { events } = await res.json();
      if (n === 0)
        for (const e of events)
          cursors[Number(e.channel.slice(5))] = e.streamId.replace(/\.[0-9a-z]+$/, '.0');
    }
  }
  return cursors;
}

/** Opens every stream, `concurrency` at a time; resolves with the sockets once all are set up. */
async function openAll(tokens, cursors) {
  const sockets = [];
  let next = 0;
  const ready = (text) =>
    floor
      ? text.includes(': ok')
      : replay > 0
        ? (text.match(/\nid: /g)?.length ?? 0) > replay
        : text.includes('\nretry: ');
  const worker = async () => {
    while (next < streams) {
      const i = next++;
      const { socket } = await openStream(tokens[i], cursors?.[i], ready, i);
      sockets.push(socket);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sockets;
}

/** One raw stream request; resolves with the socket and what it read once `done(text)` holds. */
function openStream(token, cursor, done, i = 0) {
  const channel = perUser ? `user:${i}` : 'bench';
  return new Promise((resolveOpen, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      // Once set up, the rest of the stream is read and dropped.
      if (settled) return;
      text += chunk;
      if (!text.startsWith('HTTP/1.1 200')) {
        if (text.includes('\r\n\r\n')) reject(new Error(text.split('\r\n')[0]));
        return;
      }
      if (done(text)) {
        settled = true;
        resolveOpen({ socket, text });
      }
    });
    socket.write(
      `GET /events?channels=${encodeURIComponent(channel)} HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: Bearer ${token}\r\n` +
        (cursor ? `Last-Event-ID: ${cursor}\r\n` : '') +
        '\r\n',
    );
  });
}

async function health() {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    if (floor) return res.ok ? {} : undefined;
    return await res.json();
  } catch {
    return undefined;
  }
}

async function waitFor(check, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort() {
  return new Promise((resolvePort) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolvePort(p));
    });
  });
}
