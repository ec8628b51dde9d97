import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { backendUnavailable, isReportedBackendError } from '../backend-health.js';
import { redactUrl } from '../logger.js';
import { encodeEvent } from './encode.js';
import type { CloseReason, Session, SessionOptions } from './session.js';

/**
 * What opening a stream needs from the server: the drain flag, authentication, the
 * connection limits, the hub and the metrics. `http/stream-host.ts` builds it from the
 * server's context.
 */
export interface StreamHost {
  readonly draining: boolean;
  /** The name of the streams' log lines: `<logName> connect`, `<logName> disconnect`. */
  readonly logName: string;
  readonly retryMs: number;
  readonly sendBufferBytes: number;
  /** The caller, from a stream credential (header, cookie, or the query fallback). */
  authenticate(req: FastifyRequest): Promise<Principal>;
  /** Refuses (429) a user over their connection rate. */
  checkConnectUser(principal: Principal): Promise<void>;
  /** Checks the connection caps; returns the sessions to evict (evict-oldest policy). */
  admit(userId: string | undefined, ip: string): Session[];
  /** Counts an admitted session, then evicts the sessions `admit` named. */
  added(session: Session, ip: string, evictions: readonly Session[]): void;
  /** Subscribes the session: replay after the cursor (or the preamble), then live. */
  attach(
    session: Session,
    options: {
      cursor: string | undefined;
      retryMs: number;
      preamble?: (session: Session) => Promise<void>;
    },
  ): Promise<void>;
  /**
   * Undoes `attach` and `added` for a closed session, counts why it closed and logs its end.
   * A plain function (no `this`): it is every plain stream's close handler.
   */
  readonly closed: (session: Session, reason: CloseReason) => void;
}

/** What a stream route decides once the caller is known. */
export interface StreamPlan<S extends Session> {
  /** Canonical channel list of the stream. */
  readonly channels: readonly string[];
  /** Resume position (`Last-Event-ID` or `?lastEventId=`); undefined: from now. */
  readonly cursor?: string | undefined;
  /** Makes the session (a plain Session, or a subclass such as the alert stream's). */
  readonly session: (res: ServerResponse, options: SessionOptions) => S;
  /** Written instead of `connected`, before going live (the alert stream's snapshot). */
  readonly preamble?: (session: S) => Promise<void>;
  /** Called once the session is open, and once it has closed. */
  readonly onOpen?: (session: S) => void;
  readonly onClose?: (session: S) => void;
}

/** The resume cursor of a stream or poll request: the header first, then `?lastEventId=`. */
export function requestCursor(req: FastifyRequest): string | undefined {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string') return header;
  const q = req.query as Record<string, unknown>;
  return typeof q['lastEventId'] === 'string' ? q['lastEventId'] : undefined;
}

/**
 * What every stream and poll request goes through before it is served: authentication, the
 * route's decision (`decide`, which throws the documented refusals: a channel not granted,
 * a bad channel set), then the per-user connection rate.
 */
export async function admit<P>(
  host: Pick<StreamHost, 'authenticate' | 'checkConnectUser'>,
  req: FastifyRequest,
  decide: (principal: Principal) => P,
): Promise<{ principal: Principal; plan: P }> {
  const principal = await host.authenticate(req);
  const plan = decide(principal);
  await host.checkConnectUser(principal);
  return { principal, plan };
}

/**
 * The one way every SSE route opens a stream: a draining node answers with a retry hint;
 * otherwise `admit` the request (the route's `plan` decides channels and session), apply
 * the connection caps, take over the
 * response, and attach the session to the hub (replay, then live; heartbeats come from the
 * shared sweeper). Closing undoes all of it, whatever closed the stream.
 */
export async function openStream<S extends Session>(
  host: StreamHost,
  req: FastifyRequest,
  reply: FastifyReply,
  plan: (principal: Principal) => StreamPlan<S>,
): Promise<void> {
  if (host.draining) {
    answerDraining(reply, host.retryMs);
    return;
  }
  const { principal, plan: p } = await admit(host, req, plan);
  // From here to `added` nothing awaits: the cap check and the count are one step.
  const evictions = host.admit(principal.userId, req.ip);
  const res = reply.raw;
  reply.hijack();
  // Headers set by hooks (CORS, Vary) must survive the hijack: the session writes the head.
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = value;
  }
  releaseFramework(res);
  const log = req.log;
  const name = host.logName;
  const onClosed = p.onClose;
  const session = p.session(res, {
    channels: p.channels,
    sendBufferBytes: host.sendBufferBytes,
    expiresAt: principal.expiresAt,
    userId: principal.userId,
    headers,
    // A plan with no close action of its own (a plain stream) shares the host's handler: one
    // closure per stream, with what it held, was about 0.25 KiB.
    onClose: onClosed
      ? (s, reason) => {
          host.closed(s, reason);
          onClosed(s as S);
        }
      : host.closed,
  });
  host.added(session, req.ip, evictions);
  p.onOpen?.(session);
  log.info(
    {
      connection: session.id,
      user: principal.userId,
      channels: p.channels.length,
      url: redactUrl(req.url),
    },
    `${name} connect`,
  );
  try {
    const preamble = p.preamble;
    await host.attach(session, {
      cursor: p.cursor,
      retryMs: host.retryMs,
      ...(preamble ? { preamble: (s: Session) => preamble(s as S) } : {}),
    });
  } catch (err) {
    answerSetupFailure(log, res, session, err, `${name} setup failed`);
  }
}

/**
 * Drops Fastify's end-of-response listeners from a hijacked stream. Fastify puts them on
 * every response it routes, for its `request completed` log line and timing, and they hold
 * its request and reply objects (with their logger, query and params) until the response
 * ends: for a stream, as long as it is open, about 0.5 KiB each (heap snapshots of 2,000
 * idle streams, bench/results/notebook.md). A stream logs its own end (`sse disconnect`).
 * Found by name: were Fastify to rename the listener, streams would only keep that memory.
 */
function releaseFramework(res: ServerResponse): void {
  for (const event of ['finish', 'error'] as const) {
    for (const listener of res.listeners(event)) {
      if (listener.name === 'onResFinished') {
        res.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}

/**
 * The answer to a stream whose setup failed on the store or the broker: the backend's 503
 * when nothing was sent yet, else a `stream-error` event and the end of the stream (the
 * client retries). A backend outage is logged once by its health; per stream only at debug.
 */
function answerSetupFailure(
  log: FastifyRequest['log'],
  res: ServerResponse,
  session: Session,
  err: unknown,
  message: string,
): void {
  log[isReportedBackendError(err) ? 'debug' : 'error']({ err, connection: session.id }, message);
  const error = backendUnavailable(err);
  if (!res.headersSent) {
    res.writeHead(
      error.status,
      Object.assign({}, error.headers, { 'Content-Type': 'application/json; charset=utf-8' }),
    );
    res.end(JSON.stringify(error.toJSON()));
  } else if (!session.isClosed) {
    session.writeControl('stream-error', error.toJSON().error, false);
    session.close('error');
  }
}

/**
 * The answer of a draining node to a stream request. EventSource gives up for good on any
 * non-200 answer but retries after a stream that ends, so this is an empty stream with a
 * `shutdown` event and a `retry:` hint saying when to come back (elsewhere, behind a proxy).
 */
export function answerDraining(reply: FastifyReply, retryMs: number): void {
  const res = reply.raw;
  reply.hijack();
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'close' });
  res.end(
    encodeEvent({
      event: 'shutdown',
      data: JSON.stringify({ reason: 'server-shutdown', retryMs }),
    }) + encodeEvent({ retry: retryMs }),
  );
}
