import { connect, type Socket } from 'node:net';
import { type IncomingHttpHeaders, request } from 'node:http';

export interface ParsedEvent {
  event: string;
  data: string;
  id: string | undefined;
  /** Herald's `channel:` line (not an SSE field; absent on control events). */
  channel?: string;
}

/**
 * A raw SSE test client over node:http: keeps the exact bytes received and parses events per
 * the WHATWG rules (CR, LF and CRLF line ends; `data` lines joined with LF; comments kept).
 */
export class RawSse {
  raw = '';
  events: ParsedEvent[] = [];
  comments: string[] = [];
  retry: number | undefined;
  lastId: string | undefined;
  status = 0;
  headers: IncomingHttpHeaders = {};
  ended = false;
  private buf = '';
  private cur: { event: string; data: string[]; id: string | undefined; channel?: string } = {
    event: '',
    data: [],
    id: undefined,
  };
  private destroyFn: () => void = () => {};

  static open(url: string, headers: Record<string, string> = {}): Promise<RawSse> {
    const client = new RawSse();
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        res.on('end', () => (client.ended = true));
        res.on('close', () => (client.ended = true));
        res.on('error', () => (client.ended = true));
        resolve(client);
      });
      client.destroyFn = () => req.destroy();
      req.on('error', (err) => {
        client.ended = true;
        reject(err);
      });
      req.end();
    });
  }

  feed(chunk: string): void {
    this.raw += chunk;
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone CR at the end of the buffer may be the first half of CRLF.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.cur.id !== undefined) this.lastId = this.cur.id;
      if (this.cur.data.length > 0) {
        this.events.push({
          event: this.cur.event || 'message',
          data: this.cur.data.join('\n'),
          id: this.cur.id,
          ...(this.cur.channel === undefined ? {} : { channel: this.cur.channel }),
        });
      }
      this.cur = { event: '', data: [], id: undefined };
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.cur.data.push(value);
    else if (field === 'event') this.cur.event = value;
    else if (field === 'channel') this.cur.channel = value;
    else if (field === 'id' && !value.includes('\0')) this.cur.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  of(type: string): ParsedEvent[] {
    return this.events.filter((e) => e.event === type);
  }

  close(): void {
    this.destroyFn();
  }
}

/** Opens a stream on a raw socket, reads its head (through the first `retry:`), then
 * stops reading; `cursor` is the `connected` event's id (empty when it sent none). */
export async function stalledClient(
  port: number,
  path: string,
  token: string,
): Promise<{ socket: Socket; cursor: string; closed: () => boolean }> {
  const socket = connect({ port, host: '127.0.0.1' });
  let text = '';
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await new Promise<void>((resolve) => {
    const onData = (b: Buffer) => {
      text += b.toString('latin1');
      if (/retry: \d+\n\n/.test(text)) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
  });
  const m = /event: connected\nid: ([^\n]+)\n/.exec(text);
  return { socket, cursor: m?.[1] ?? '', closed: () => closed };
}
