import { EventSource } from 'eventsource';
import { request, type ClientRequest } from 'node:http';

/**
 * A producer of `POST /streams/{channel}` on a raw HTTP request: lines go out as they are
 * written, the answer's lines are read as they come (the cancel notice arrives mid-request).
 */
export class RawStreamProducer {
  status = 0;
  /** Parsed lines of the answer so far (or the error body of a refused request). */
  readonly lines: Record<string, unknown>[] = [];
  ended = false;
  private readonly req: ClientRequest;
  private readonly answered: Promise<void>;

  constructor(url: string, channel: string, headers: Record<string, string>) {
    this.req = request(`${url}/streams/${encodeURIComponent(channel)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...headers },
    });
    this.answered = new Promise<void>((resolve, reject) => {
      this.req.on('error', reject);
      this.req.on('response', (res) => {
        this.status = res.statusCode ?? 0;
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const parts = (rest + chunk).split('\n');
          rest = parts.pop() ?? '';
          for (const p of parts) if (p.trim()) this.lines.push(JSON.parse(p));
        });
        res.on('end', () => {
          if (rest.trim()) this.lines.push(JSON.parse(rest));
          this.ended = true;
          resolve();
        });
      });
    });
    this.req.flushHeaders();
  }

  /** Sends objects, one line each. */
  send(...lines: unknown[]): void {
    this.req.write(lines.map((l) => JSON.stringify(l) + '\n').join(''));
  }

  /** Sends raw text. */
  sendRaw(text: string): void {
    this.req.write(text);
  }

  /** Sends `tokens` as token lines in one write. */
  tokens(tokens: readonly string[]): void {
    this.send(...tokens.map((token) => ({ token })));
  }

  /** Ends the body (after an optional last line) and waits for the whole answer. */
  async finish(last?: unknown): Promise<Record<string, unknown>[]> {
    this.req.end(last === undefined ? undefined : JSON.stringify(last) + '\n');
    await this.answered;
    return this.lines;
  }

  /** The stream id of the first answer line. */
  get stream(): string | undefined {
    return this.lines[0]?.['stream'] as string | undefined;
  }
}

export interface Got {
  type: string;
  data: Record<string, unknown>;
  id: string;
}

/** An `eventsource` subscriber that records the stream events of one channel. */
export function subscribe(url: string, channel: string, token: string, cursor?: string) {
  const got: Got[] = [];
  const resets: Record<string, unknown>[] = [];
  let opens = 0;
  const q = `channels=${channel}&token=${token}${cursor ? `&lastEventId=${encodeURIComponent(cursor)}` : ''}`;
  const es = new EventSource(`${url}/events?${q}`);
  for (const type of ['ai_start', 'ai_response', 'ai_complete']) {
    es.addEventListener(type, (e) =>
      got.push({ type, data: JSON.parse(e.data), id: e.lastEventId }),
    );
  }
  es.addEventListener('reset', (e) => resets.push(JSON.parse(e.data)));
  es.addEventListener('connected', () => opens++);
  return {
    es,
    got,
    resets,
    get opens() {
      return opens;
    },
    tokens: () => got.filter((g) => g.type === 'ai_response').map((g) => g.data['i']),
  };
}

export const range = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => from + k);
export const words = (from: number, to: number) => range(from, to).map((i) => `t${i} `);
