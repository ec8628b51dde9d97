import net from 'node:net';
import { ChunkedDecoder, parseResponseHead } from './sse-parser.js';
import { Histogram, clockMs } from './stats.js';

/**
 * A keep-alive HTTP/1.1 connection that pipelines requests: responses come back in request
 * order, so a FIFO of callbacks is all the bookkeeping needed. Reconnects lazily if the
 * server closes it between steps.
 */
class PipelinedConnection {
  constructor(port) {
    this.port = port;
    /** @type {net.Socket | null} */
    this.sock = null;
    /** @type {((status: number, body: string) => void)[]} */
    this.queue = [];
    this.buf = null;
    this.corked = false;
    this.resp = null; // response being read
  }

  get inflight() {
    return this.queue.length;
  }

  ensure() {
    if (this.sock !== null && !this.sock.destroyed) return;
    const sock = net.connect({ host: '127.0.0.1', port: this.port, localAddress: '127.0.0.1' });
    sock.setNoDelay(true);
    this.sock = sock;
    this.buf = null;
    this.resp = null;
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', () => {});
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.sock = null;
      const lost = this.queue;
      this.queue = [];
      for (const cb of lost) cb(0, 'connection closed');
    });
  }

  /** @param {string} path @param {string} headers extra header lines @param {string} body */
  send(path, headers, body, cb) {
    this.ensure();
    const sock = /** @type {net.Socket} */ (this.sock);
    if (!this.corked) {
      this.corked = true;
      sock.cork();
      process.nextTick(() => {
        this.corked = false;
        sock.uncork();
      });
    }
    this.queue.push(cb);
    sock.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n${headers}` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  onData(chunk) {
    let buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = null;
    while (buf.length > 0) {
      if (this.resp === null) {
        const head = parseResponseHead(buf);
        if (head === null) {
          this.buf = buf;
          return;
        }
        buf = buf.subarray(head.bodyStart);
        const chunked = (head.headers['transfer-encoding'] ?? '').includes('chunked');
        const resp = {
          status: head.status,
          parts: [],
          left: Number(head.headers['content-length'] ?? 0),
          dec: null,
          done: false,
        };
        if (chunked) {
          resp.dec = new ChunkedDecoder(
            (b) => resp.parts.push(Buffer.from(b)),
            () => (resp.done = true),
          );
        }
        this.resp = resp;
      }
      const resp = this.resp;
      if (resp.dec !== null) {
        buf = buf.subarray(resp.dec.push(buf));
        if (!resp.done) return;
      } else {
        const take = Math.min(resp.left, buf.length);
        if (take > 0) resp.parts.push(Buffer.from(buf.subarray(0, take)));
        resp.left -= take;
        buf = buf.subarray(take);
        if (resp.left > 0) return;
      }
      this.resp = null;
      const cb = this.queue.shift();
      cb?.(resp.status, Buffer.concat(resp.parts).toString('utf8'));
    }
  }

  close() {
    const s = this.sock;
    this.sock = null;
    s?.destroy();
    const lost = this.queue;
    this.queue = [];
    for (const cb of lost) cb(0, 'closed');
  }
}

/**
 * Publishes at a fixed rate over a few pipelined connections and times each acknowledgement.
 * `make(k)` builds request k at the moment it is sent, so the timestamp in the payload is the
 * send time; when every connection has `maxInflight` unanswered requests the publisher waits,
 * and the step records that it fell behind (a server that cannot keep up fails the step
 * instead of hiding the backlog in the generator).
 */
export class Publisher {
  /**
   * `port` is one server, or an array of servers (cluster nodes): connection j goes to
   * `port[j % length]`, so round-robin over connections is round-robin over the nodes.
   * @param {number | number[]} port
   */
  constructor(port, { connections = 4, maxInflight = 64 } = {}) {
    const ports = Array.isArray(port) ? port : [port];
    this.conns = Array.from(
      { length: connections },
      (_, j) => new PipelinedConnection(ports[j % ports.length]),
    );
    this.maxInflight = maxInflight;
    this.rr = 0;
  }

  /** @returns {PipelinedConnection | null} */
  pick() {
    const n = this.conns.length;
    for (let j = 0; j < n; j++) {
      const c = this.conns[(this.rr + j) % n];
      if (c.inflight < this.maxInflight) {
        this.rr = (this.rr + j + 1) % n;
        return c;
      }
    }
    return null;
  }

  /**
   * Sends `total` requests at `rate` per second. Resolves when every one is acknowledged (or
   * `ackTimeoutMs` after the last send).
   * @param {{ rate: number, total: number, make: (k: number) => {path: string, headers: string, body: string}, ackTimeoutMs?: number, okStatus?: (s: number) => boolean }} o
   */
  run(o) {
    const ackHist = new Histogram();
    const okStatus = o.okStatus ?? ((s) => s >= 200 && s < 300);
    const stats = { sent: 0, acked: 0, errors: 0, blockedTicks: 0, firstError: '', sendMs: 0 };
    return new Promise((resolve) => {
      const t0 = performance.now();
      let lastSend = t0;
      let finished = false;
      let ackTimer = null;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearInterval(timer);
        if (ackTimer) clearTimeout(ackTimer);
        stats.sendMs = lastSend - t0;
        resolve({
          ...stats,
          ack: ackHist.summary(),
          achievedRate: stats.sent / Math.max(1e-9, (lastSend - t0) / 1000 + 1 / o.rate),
        });
      };
      const onAck = (sentAt) => (status, body) => {
        if (okStatus(status)) {
          stats.acked++;
          ackHist.record(clockMs() - sentAt);
        } else {
          stats.errors++;
          if (!stats.firstError) stats.firstError = `${status} ${body.slice(0, 200)}`;
        }
        if (stats.acked + stats.errors === o.total) finish();
      };
      const tick = () => {
        const due = Math.min(o.total, Math.floor(((performance.now() - t0) * o.rate) / 1000) + 1);
        while (stats.sent < due) {
          const c = this.pick();
          if (c === null) {
            stats.blockedTicks++;
            break;
          }
          const req = o.make(stats.sent);
          c.send(req.path, req.headers, req.body, onAck(clockMs()));
          stats.sent++;
          lastSend = performance.now();
        }
        if (stats.sent === o.total && ackTimer === null) {
          clearInterval(timer);
          ackTimer = setTimeout(finish, o.ackTimeoutMs ?? 10_000);
        }
      };
      const timer = setInterval(tick, 1);
      tick();
      if (o.total === 0) finish();
    });
  }

  close() {
    for (const c of this.conns) c.close();
  }
}
