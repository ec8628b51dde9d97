import { type IncomingHttpHeaders, request } from 'node:http';
import { RawSse } from './sse-client.js';
import { readBody } from './helpers.js';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/**
 * One HTTP request on a fresh connection. `localAddress` picks the client address among the
 * loopback range (127.0.0.2, 127.0.0.3, ...), so per-address limits can be tested with real
 * distinct addresses and no proxy.
 */
export function httpRequest(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: unknown;
    localAddress?: string;
  } = {},
): Promise<HttpAnswer> {
  const payload =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? opts.body
        : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? (payload === undefined ? 'GET' : 'POST'),
        agent: false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) =>
        readBody(res, (body) =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
        ),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** An SSE stream (parsed by RawSse) from a chosen local address; `close()` ends it. */
export function openStreamFrom(
  url: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<RawSse & { close(): void }> {
  const client = new RawSse();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        agent: false,
        headers: { accept: 'text/event-stream', ...headers },
        ...(localAddress ? { localAddress } : {}),
      },
      (res) => {
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        const end = () => (client.ended = true);
        res.on('end', end).on('close', end).on('error', end);
        resolve(client);
      },
    );
    client.close = () => req.destroy();
    req.on('error', (err) => {
      client.ended = true;
      reject(err);
    });
    req.end();
  });
}

/** A random loopback address other than 127.0.0.1, so parallel test files never share one. */
export function loopbackAddress(): string {
  const b = () => 1 + Math.floor(Math.random() * 254);
  return `127.${b()}.${b()}.${1 + b()}`.replace(/\.255$/, '.254');
}

/** The value of one Prometheus series in an exposition text (0 when absent). */
export function seriesValue(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return 0;
}
