import { createServer, type RequestListener, type Server } from 'node:http';

export interface HttpTimeouts {
  /** Whole request head must arrive within this, ms. */
  readonly headersTimeoutMs: number;
  /** Whole request (head and body) must arrive within this, ms. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this, ms. */
  readonly keepAliveTimeoutMs: number;
}

/**
 * The HTTP server under Fastify (its `serverFactory`), built for slowloris: a client that
 * trickles its request head or body to hold a connection open is cut once
 * `headersTimeoutMs` / `requestTimeoutMs` pass (Node answers 408 and closes).
 *
 * Node checks those deadlines only every `connectionsCheckingInterval` (default 30 s, and it
 * can be set only when the server is created, which is why Herald creates it): half the
 * headers timeout, at most 1 s, keeps the overshoot small. The check walks only
 * connections with a request still arriving, so 50,000 open streams do not make it dearer.
 *
 * Both deadlines bound *receiving* the request. An SSE response, however long it streams,
 * is not affected: its request (a GET with no body) was complete when the stream began.
 * Inactivity on an established socket is not timed out either (`setTimeout(0)`): a stream
 * can be quiet between heartbeats, and heartbeats keep proxies honest.
 */
export function httpServerFactory(timeouts: HttpTimeouts) {
  return (handler: RequestListener): Server => {
    const server = createServer(
      {
        headersTimeout: timeouts.headersTimeoutMs,
        requestTimeout: timeouts.requestTimeoutMs,
        connectionsCheckingInterval: Math.max(
          10,
          Math.min(1000, Math.floor(timeouts.headersTimeoutMs / 2)),
        ),
      },
      handler,
    );
    server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
    server.setTimeout(0);
    return server;
  };
}
