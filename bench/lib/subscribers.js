import net from 'node:net';
import { ChunkedDecoder, SseParser, parseResponseHead } from './sse-parser.js';
import { Histogram, SeqWindow, clockMs } from './stats.js';

/**
 * Source addresses for subscriber sockets. Each loopback address has its own ephemeral port
 * range (about 28,000 ports here), so spreading connections over several of them keeps
 * tens of thousands of connections clear of port exhaustion.
 */
export const SOURCE_ADDRESSES = 8;

const PAYLOAD_PREFIX = '{"s":';

/**
 * The GET that opens subscriber stream `spec` on `port`; the native reader
 * (native-pool.js) sends the same bytes.
 * @param {{ path: string, headers: string }} spec
 * @param {number} port
 */
export function subscribeRequest(spec, port) {
  return (
    `GET ${spec.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    `Accept: text/event-stream\r\nCache-Control: no-cache\r\n${spec.headers}\r\n`
  );
}

/**
 * One read buffer shared by every socket of this process (`onread`): Node then skips the
 * Readable-stream machinery and a Buffer allocation per read, which is most of what a
 * delivery costs the generator. Safe because every read is parsed synchronously and
 * anything kept (an unfinished line, a partial head) is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/**
 * One SSE subscriber over a raw TCP socket: writes the GET, parses the response head, then
 * feeds the body (de-chunked when needed) to the SSE parser. Payloads made by the bench
 * (`{"s":seq,"t":publishedAtMs,...}`) are counted and timed; other events are tallied by type.
 */
class Subscriber {
  constructor(pool, index) {
    this.pool = pool;
    this.index = index;
    /** @type {net.Socket | null} */
    this.sock = null;
    this.ready = false;
    this.closed = true;
    this.closing = false;
    this.lastEventId = '';
    /** @type {SeqWindow | null} */
    this.win = null;
    this.events = 0;
  }

  /**
   * Opens the stream. Resolves true once a 200 head and the first body bytes arrived, false on
   * any failure (recorded in the pool's error counts). Never rejects. `spec.port` picks the
   * server (a cluster node); without it, the pool's port.
   * @param {{ path: string, headers: string, port?: number }} spec
   */
  open(spec, timeoutMs) {
    const pool = this.pool;
    this.ready = false;
    this.closed = false;
    this.closing = false;
    const port = spec.port ?? pool.port;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok, reason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!ok) {
          pool.countError(reason);
          this.destroy();
        }
        resolve(ok);
      };
      const timer = setTimeout(() => settle(false, 'timeout'), timeoutMs);
      /** @type {(chunk: Buffer) => void} */
      let onData = () => {};
      const sock = net.connect({
        host: '127.0.0.1',
        port,
        localAddress: `127.0.0.${2 + (this.index % SOURCE_ADDRESSES)}`,
        onread: { buffer: READ_BUFFER, callback: (n, buf) => onData(buf.subarray(0, n)) },
      });
      this.sock = sock;
      let head = null;
      /** @type {Buffer | null} */
      let headBuf = null;
      /** @type {(b: Buffer) => void} */
      let body = () => {};
      const parser = new SseParser((type, data, id) => this.onEvent(type, data, id));
      sock.on('connect', () => sock.write(subscribeRequest(spec, port)));
      onData = (chunk) => {
        if (head !== null) {
          pool.bytes += chunk.length;
          body(chunk);
          if (!this.ready) {
            this.ready = true;
            settle(true);
          }
          return;
        }
        headBuf = headBuf === null ? Buffer.from(chunk) : Buffer.concat([headBuf, chunk]);
        let parsed;
        try {
          parsed = parseResponseHead(headBuf);
        } catch {
          settle(false, 'bad-response');
          return;
        }
        if (parsed === null) return;
        head = parsed;
        if (head.status !== 200) {
          settle(false, `http-${head.status}`);
          return;
        }
        const feed = (b) => {
          try {
            parser.push(b);
          } catch (err) {
            pool.countError('parse');
            throw err;
          }
        };
        if ((head.headers['transfer-encoding'] ?? '').includes('chunked')) {
          const dec = new ChunkedDecoder(feed, () => this.destroy());
          body = (b) => dec.push(b);
        } else body = feed;
        const rest = headBuf.subarray(head.bodyStart);
        headBuf = null;
        if (rest.length > 0) {
          pool.bytes += rest.length;
          body(rest);
          this.ready = true;
          settle(true);
        }
      };
      sock.on('error', (err) => {
        if (!settled) settle(false, /** @type {NodeJS.ErrnoException} */ (err).code ?? 'error');
        else if (!this.closing)
          pool.countError(/** @type {NodeJS.ErrnoException} */ (err).code ?? 'error');
      });
      sock.on('close', () => {
        const wasReady = this.ready;
        this.closed = true;
        this.ready = false;
        if (!settled) settle(false, 'closed-early');
        else if (wasReady && !this.closing) pool.unexpectedCloses++;
        pool.onClose(this);
      });
    });
  }

  onEvent(type, data, id) {
    this.lastEventId = id;
    const pool = this.pool;
    // Anywhere in the data: an inbox notification carries the payload as its `data` field.
    const at = data.indexOf(PAYLOAD_PREFIX);
    if (at >= 0) {
      const c = data.indexOf(',', at + 5);
      const s = +data.slice(at + 5, c);
      const t = +data.slice(c + 5, data.indexOf(',', c + 5));
      pool.hist.record(clockMs() - t);
      pool.received++;
      this.events++;
      if (this.win !== null) this.win.record(s);
    } else {
      pool.control[type] = (pool.control[type] ?? 0) + 1;
    }
  }

  destroy() {
    this.closing = true;
    this.sock?.destroy();
  }
}

/**
 * Holds many subscribers from one process and aggregates what they see: a latency histogram
 * (reset per measurement step), per-subscriber sequence windows, error counts.
 */
export class SubscriberPool {
  constructor(port) {
    this.port = port;
    /** @type {Subscriber[]} */
    this.subs = [];
    this.hist = new Histogram();
    this.received = 0;
    this.bytes = 0;
    this.unexpectedCloses = 0;
    /** @type {Record<string, number>} */
    this.errors = {};
    /** @type {Record<string, number>} */
    this.control = {};
    this.open = 0;
    /** @type {((s: Subscriber) => void) | null} */
    this.closeHook = null;
  }

  countError(reason) {
    this.errors[reason] = (this.errors[reason] ?? 0) + 1;
  }

  onClose(sub) {
    this.closeHook?.(sub);
  }

  /** Number of subscribers opened at least once. */
  get size() {
    return this.subs.length;
  }

  /** Processes besides this one that read the streams: none, all is done here. */
  get helperPids() {
    return [];
  }

  /** Number of subscribers currently streaming. */
  get readyCount() {
    let n = 0;
    for (const s of this.subs) if (s.ready) n++;
    return n;
  }

  /**
   * Opens `count` streams, `concurrency` at a time. `spec(i)` gives path and extra header
   * lines for subscriber i. With `track`, every subscriber counts sequence numbers.
   */
  async connect(
    count,
    spec,
    { concurrency = 500, timeoutMs = 30_000, track = false, onProgress } = {},
  ) {
    const start = performance.now();
    for (let i = this.subs.length; i < count; i++) this.subs.push(new Subscriber(this, i));
    let next = 0;
    let done = 0;
    let ok = 0;
    await new Promise((resolve) => {
      if (count === 0) resolve(undefined);
      const launch = () => {
        while (next < count && next - done < concurrency) {
          const sub = this.subs[next];
          const i = next++;
          if (track) sub.win = new SeqWindow(0);
          void sub.open(spec(i), timeoutMs).then((success) => {
            done++;
            if (success) ok++;
            if (onProgress && done % 2000 === 0) onProgress(done, ok);
            if (done === count) resolve(undefined);
            else launch();
          });
        }
      };
      launch();
    });
    return { ok, failed: count - ok, ms: performance.now() - start };
  }

  /** Re-opens the given subscribers all at once (reconnect storm). */
  async reconnect(subs, spec, { concurrency = 100_000, timeoutMs = 60_000 } = {}) {
    const start = performance.now();
    let next = 0;
    let done = 0;
    let ok = 0;
    await new Promise((resolve) => {
      if (subs.length === 0) resolve(undefined);
      const launch = () => {
        while (next < subs.length && next - done < concurrency) {
          const sub = subs[next++];
          void sub.open(spec(sub), timeoutMs).then((success) => {
            done++;
            if (success) ok++;
            if (done === subs.length) resolve(undefined);
            else launch();
          });
        }
      };
      launch();
    });
    return { ok, failed: subs.length - ok, ms: performance.now() - start };
  }

  /** Starts a fresh latency histogram; returns the old one. */
  resetHistogram() {
    const h = this.hist;
    this.hist = new Histogram();
    return h;
  }

  /** Sum of first receipts and duplicates over all subscribers. */
  seqTotals() {
    let uniq = 0;
    let dups = 0;
    for (const s of this.subs) {
      if (s.win) {
        uniq += s.win.uniq;
        dups += s.win.dups;
      }
    }
    return { uniq, dups };
  }

  /** Closes every stream (client side) and waits until the sockets are gone. */
  async closeAll(timeoutMs = 10_000) {
    const open = this.subs.filter((s) => !s.closed);
    await Promise.race([
      Promise.all(
        open.map(
          (s) =>
            new Promise((resolve) => {
              if (s.sock === null || s.closed) return resolve(undefined);
              s.sock.once('close', () => resolve(undefined));
              s.destroy();
            }),
        ),
      ),
      // unref: a pool that closed in time does not hold the process open for the rest
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}
