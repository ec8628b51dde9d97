/**
 * Wire parsing for the load generator: an SSE parser that follows the WHATWG "server-sent
 * events" interpretation rules over a byte stream, a chunked transfer-encoding decoder, and
 * an HTTP/1.1 response-head parser. Everything works on Buffers split at arbitrary points,
 * because TCP gives no message boundaries.
 */

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

/**
 * Incremental SSE parser. Lines end at CRLF, LF or CR (a CR at the end of one chunk and an
 * LF at the start of the next are one line break); a line starting with ':' is a comment;
 * `field: value` strips exactly one space after the colon; `data` lines are joined with LF;
 * an empty line dispatches the event unless the data buffer is empty; `id` containing NUL is
 * ignored; `retry` must be ASCII digits; a leading UTF-8 BOM is skipped. Values are decoded
 * as UTF-8 per line, which equals decoding the stream first because CR and LF never occur
 * inside a multi-byte sequence.
 */
export class SseParser {
  /** @param {(type: string, data: string, lastEventId: string) => void} onEvent */
  constructor(onEvent) {
    this.onEvent = onEvent;
    /** @type {Buffer | null} bytes of an unfinished line */
    this.rest = null;
    this.skipLf = false;
    this.started = false;
    this.data = '';
    this.hasData = false;
    this.type = '';
    this.lastEventId = '';
    this.retry = -1;
  }

  /** @param {Buffer} chunk */
  push(chunk) {
    let buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    if (buf.length === 0) return;
    let pos = 0;
    if (!this.started) {
      if (buf.length < 3 && buf.length > 0 && buf[0] === 0xef) {
        this.rest = Buffer.from(buf);
        return;
      }
      this.started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
    }
    const len = buf.length;
    if (this.skipLf) {
      this.skipLf = false;
      if (pos < len && buf[pos] === LF) pos++;
    }
    const hasCr = buf.indexOf(CR, pos) !== -1;
    while (pos < len) {
      let end;
      let next;
      if (!hasCr) {
        end = buf.indexOf(LF, pos);
        if (end === -1) break;
        next = end + 1;
      } else {
        const lf = buf.indexOf(LF, pos);
        const cr = buf.indexOf(CR, pos);
        if (lf === -1 && cr === -1) break;
        if (cr !== -1 && (lf === -1 || cr < lf)) {
          end = cr;
          if (cr + 1 < len) next = buf[cr + 1] === LF ? cr + 2 : cr + 1;
          else {
            next = cr + 1;
            this.skipLf = true;
          }
        } else {
          end = lf;
          next = lf + 1;
        }
      }
      this.line(buf, pos, end);
      pos = next;
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos));
  }

  /** Processes one line `buf[start, end)` (without its terminator). */
  line(buf, start, end) {
    if (start === end) {
      this.dispatch();
      return;
    }
    if (buf[start] === COLON) return;
    let colon = buf.indexOf(COLON, start);
    let fieldEnd;
    let valueStart;
    if (colon === -1 || colon >= end) {
      fieldEnd = end;
      valueStart = end;
    } else {
      fieldEnd = colon;
      valueStart = colon + 1;
      if (valueStart < end && buf[valueStart] === SPACE) valueStart++;
    }
    const n = fieldEnd - start;
    const c = buf[start];
    if (
      n === 4 &&
      c === 100 &&
      buf[start + 1] === 97 &&
      buf[start + 2] === 116 &&
      buf[start + 3] === 97
    ) {
      // data
      const value = buf.toString('utf8', valueStart, end);
      this.data = this.hasData ? this.data + '\n' + value : value;
      this.hasData = true;
    } else if (n === 5 && c === 101 && buf.toString('latin1', start, fieldEnd) === 'event') {
      this.type = buf.toString('utf8', valueStart, end);
    } else if (n === 2 && c === 105 && buf[start + 1] === 100) {
      // id: ignored when it contains NUL
      const nul = buf.indexOf(0, valueStart);
      if (nul === -1 || nul >= end) this.lastEventId = buf.toString('utf8', valueStart, end);
    } else if (n === 5 && c === 114 && buf.toString('latin1', start, fieldEnd) === 'retry') {
      const v = buf.toString('latin1', valueStart, end);
      if (/^[0-9]+$/.test(v)) this.retry = Number(v);
    }
    // any other field is ignored, as the spec says
  }

  dispatch() {
    if (!this.hasData) {
      this.type = '';
      return;
    }
    const type = this.type === '' ? 'message' : this.type;
    const data = this.data;
    this.data = '';
    this.hasData = false;
    this.type = '';
    this.onEvent(type, data, this.lastEventId);
  }
}

/**
 * Decodes `Transfer-Encoding: chunked` (nginx uses it for streaming responses). Chunk
 * extensions and trailers are skipped; `onData` gets each piece of payload as it arrives and
 * `onEnd` fires after the last chunk and its trailer section.
 */
export class ChunkedDecoder {
  /** @param {(b: Buffer) => void} onData @param {() => void} onEnd */
  constructor(onData, onEnd) {
    this.onData = onData;
    this.onEnd = onEnd;
    this.state = 0; // 0 size line, 1 data, 2 CRLF after data, 3 trailer lines, 4 done
    this.line = '';
    this.remaining = 0;
  }

  /**
   * Consumes bytes of `buf` up to the end of the body.
   * @param {Buffer} buf
   * @returns {number} bytes consumed (less than `buf.length` only when the body ended)
   */
  push(buf) {
    let pos = 0;
    const len = buf.length;
    while (pos < len && this.state !== 4) {
      if (this.state === 1) {
        const take = Math.min(this.remaining, len - pos);
        this.onData(buf.subarray(pos, pos + take));
        pos += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 2;
        continue;
      }
      // states 0, 2, 3 read one line
      const lf = buf.indexOf(LF, pos);
      if (lf === -1) {
        this.line += buf.toString('latin1', pos);
        return len;
      }
      const line = (this.line + buf.toString('latin1', pos, lf)).replace(/\r$/, '');
      this.line = '';
      pos = lf + 1;
      if (this.state === 2) {
        if (line !== '') throw new Error('chunk data not followed by CRLF');
        this.state = 0;
      } else if (this.state === 0) {
        const size = parseInt(line.split(';')[0] ?? '', 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
        if (size === 0) this.state = 3;
        else {
          this.remaining = size;
          this.state = 1;
        }
      } else if (line === '') {
        this.state = 4;
        this.onEnd();
      }
    }
    return pos;
  }
}

/**
 * Finds the end of an HTTP response head in `buf`. Returns null if incomplete, else
 * `{ status, headers, bodyStart }` with lower-cased header names.
 * @param {Buffer} buf
 */
export function parseResponseHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    if (buf.length > 65536) throw new Error('response head too large');
    return null;
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  /** @type {Record<string, string>} */
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  return { status: Number(m[1]), headers, bodyStart: end + 4 };
}
