// The `tokens` scenario: AI answers streamed token by token on ai: channels (docs/streams.md).
// Measures, on Herald pinned to one core: tokens/s through one stream, the per-token latency
// (p99) with many answers streaming at once and the server CPU they take, and what a
// reconnect mid-answer costs (time to catch up on the buffered tokens).
import http from 'node:http';
import { SignJWT } from 'jose';
import { CpuMeter, Histogram } from './stats.js';

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** A producer request (`POST /streams/{channel}`, NDJSON), written to as the test goes. */
function producer(target, channel) {
  const req = http.request({
    host: '127.0.0.1',
    port: target.port,
    path: `/streams/${encodeURIComponent(channel)}`,
    method: 'POST',
    agent,
    headers: { 'content-type': 'application/x-ndjson', 'x-herald-key': target.apiKey },
  });
  const answered = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return {
    /** Writes tokens as one chunk; resolves when the socket took it. */
    write(tokens) {
      const chunk = tokens.map((t) => `{"token":${JSON.stringify(t)}}\n`).join('');
      return new Promise((resolve) => (req.write(chunk) ? resolve() : req.once('drain', resolve)));
    },
    end() {
      req.end('{"end":"done"}\n');
      return answered;
    },
  };
}

/**
 * A subscriber of one channel over a raw socket; calls `onToken(i, token, id)` per
 * `ai_response` frame. Frames are split on the blank line; only what the scenario needs is
 * parsed.
 */
function subscriber(target, token, channel, onToken, lastEventId) {
  let buf = '';
  let id = '';
  const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const req = http.get({
    host: '127.0.0.1',
    port: target.port,
    path: `/events?channels=${encodeURIComponent(channel)}`,
    headers,
    agent: false,
  });
  const opened = new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, k);
          buf = buf.slice(k + 2);
          if (!frame.includes('event: ai_response')) {
            if (frame.includes('event: connected')) resolve();
            continue;
          }
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) {
              const d = JSON.parse(line.slice(6));
              onToken(d.i, d.token, id);
            }
          }
        }
      });
      res.on('error', () => undefined);
    });
  });
  return { opened, close: () => req.destroy() };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(check, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`tokens: timed out waiting for ${what}`);
    await sleep(5);
  }
}

export async function tokens(target, p, log) {
  const total = p.tokensThroughputN ?? 50_000;
  const streams = p.tokensStreams ?? 200;
  const rate = p.tokensRate ?? 50; // tokens/s per answer: a fast LLM
  const seconds = p.tokensSeconds ?? 5;
  const buffered = p.tokensReconnectBuffered ?? 2000;
  await target.start();
  try {
    // One reader per answer: the per-user connection cap (100) must not bound the run.
    const reader = (n) =>
      new SignJWT({ channels: ['ai:*'] })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(`bench-reader-${n}`)
        .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
        .sign(target.key);
    const jwt = await reader('main');
    const out = {};

    // 1. One answer as fast as it goes: tokens/s through one stream, batches of 500.
    {
      let got = 0;
      let first = 0;
      let last = 0;
      const sub = subscriber(target, jwt, 'ai:bench-tp', () => {
        if (got++ === 0) first = performance.now();
        last = performance.now();
      });
      await sub.opened;
      const prod = producer(target, 'ai:bench-tp');
      const cpu = new CpuMeter(target.pid);
      cpu.start();
      const batch = Array.from({ length: 500 }, (_, k) => `tok${k} `);
      for (let sent = 0; sent < total; sent += batch.length) await prod.write(batch);
      await until(() => got >= total, 120_000, 'the throughput stream');
      const server = cpu.stop();
      await prod.end();
      sub.close();
      out.throughput = {
        tokens: total,
        tokensPerSec: Math.round((got - 1) / ((last - first) / 1000)),
        serverCpu: +server.total.toFixed(2),
      };
      log(
        `tokens: one stream ${out.throughput.tokensPerSec} tokens/s (server CPU ${server.total.toFixed(2)})`,
      );
    }

    // 2. Many answers at once, each at `rate` tokens/s: per-token latency and server CPU.
    {
      const hist = new Histogram();
      const prods = [];
      const subs = [];
      for (let s = 0; s < streams; s++) {
        const ch = `ai:bench-c${s}`;
        const sub = subscriber(target, await reader(s), ch, (_i, token) => {
          hist.record(performance.now() - Number(token));
        });
        subs.push(sub);
      }
      await Promise.all(subs.map((s) => s.opened));
      for (let s = 0; s < streams; s++) prods.push(producer(target, `ai:bench-c${s}`));
      const cpu = new CpuMeter(target.pid);
      cpu.start();
      const tickMs = 20; // every producer sends its due tokens every 20 ms, spread over the tick
      const perTick = (rate * tickMs) / 1000;
      const ticks = Math.round((seconds * 1000) / tickMs);
      let owed = 0;
      for (let t = 0; t < ticks; t++) {
        const t0 = performance.now();
        owed += perTick;
        const n = Math.floor(owed);
        owed -= n;
        if (n > 0) {
          for (const prod of prods) {
            void prod.write(Array.from({ length: n }, () => String(performance.now())));
          }
        }
        const left = tickMs - (performance.now() - t0);
        if (left > 0) await sleep(left);
      }
      await sleep(200);
      const server = cpu.stop();
      await Promise.all(prods.map((pr) => pr.end()));
      for (const s of subs) s.close();
      const lat = hist.summary();
      out.concurrent = {
        streams,
        tokensPerSecPerStream: rate,
        tokensPerSec: streams * rate,
        received: lat.count,
        p50Ms: +lat.p50.toFixed(2),
        p99Ms: +lat.p99.toFixed(2),
        maxMs: +lat.max.toFixed(2),
        serverCpu: +server.total.toFixed(2),
        // At this rate, how many answers one core would hold at full CPU (linear estimate).
        streamsPerCoreEstimate: Math.round(streams / Math.max(0.01, server.total)),
      };
      log(
        `tokens: ${streams} streams x ${rate}/s: p99 ${lat.p99.toFixed(2)} ms, server CPU ${server.total.toFixed(2)}`,
      );
    }

    // 3. Reconnect mid-answer: catch up on `buffered` tokens from a cursor near the start.
    {
      const prod = producer(target, 'ai:bench-rc');
      let cursor = '';
      let seen = 0;
      const first = subscriber(target, jwt, 'ai:bench-rc', (i, _t, id) => {
        seen++;
        if (i === 9) cursor = id;
      });
      await first.opened;
      await prod.write(Array.from({ length: buffered }, (_, k) => `tok${k} `));
      await until(() => seen >= buffered, 30_000, 'the buffered answer');
      first.close();
      const hist = new Histogram();
      for (let trial = 0; trial < 20; trial++) {
        let got = 0;
        const t0 = performance.now();
        const again = subscriber(target, jwt, 'ai:bench-rc', () => got++, cursor);
        await until(() => got >= buffered - 10, 30_000, 'the catch-up');
        hist.record(performance.now() - t0);
        again.close();
      }
      await prod.end();
      const s = hist.summary();
      out.reconnect = {
        tokensCaughtUp: buffered - 10,
        p50Ms: +s.p50.toFixed(2),
        p99Ms: +s.p99.toFixed(2),
      };
      log(`tokens: reconnect catching up ${buffered - 10} tokens: p50 ${s.p50.toFixed(2)} ms`);
    }
    return out;
  } finally {
    await target.stop();
    target.cleanup();
  }
}
