/**
 * The one catalogue of errors Herald returns. Every error a client can see has a stable
 * code (`HERALD_ERR_*`), an HTTP status and a message that says what to do about it.
 * `docs/errors.md` lists every entry; a test fails when the table and this file disagree.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
  /** Seconds for the `Retry-After` header every answer with this code carries. */
  readonly retryAfterSec?: number;
}

export const errorCatalogue = {
  HERALD_ERR_BAD_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  HERALD_ERR_BAD_REQUEST: {
    status: 400,
    message: 'The request is malformed; see the detail for the field at fault.',
  },
  HERALD_ERR_INVALID_CHANNEL: {
    status: 400,
    message:
      'Channel names are 1-128 characters: segments of A-Z a-z 0-9 _ - . @ that start with a letter or digit, joined by ":".',
  },
  HERALD_ERR_INVALID_EVENT_TYPE: {
    status: 400,
    message: 'Event types use 1-64 characters and must not contain CR, LF, NUL or spaces.',
  },
  HERALD_ERR_TOO_MANY_CHANNELS: {
    status: 400,
    message: 'Too many channels in one request; split it or raise maxChannelsPerConnection.',
  },
  HERALD_ERR_UNAUTHENTICATED: {
    status: 401,
    message:
      'A valid token is required: send "Authorization: Bearer <token>", the herald_token cookie, or ?token=.',
  },
  HERALD_ERR_TOKEN_INVALID: {
    status: 401,
    message: 'The token is malformed, forged, uses a refused algorithm, or is not valid now.',
  },
  HERALD_ERR_TOKEN_EXPIRED: {
    status: 401,
    message: 'The token has expired; get a fresh one and reconnect.',
  },
  HERALD_ERR_FORBIDDEN_CHANNEL: {
    status: 403,
    message: 'This token may not read one of the requested channels.',
  },
  HERALD_ERR_FORBIDDEN_PUBLISH: {
    status: 403,
    message: 'This key or token may not publish to one of the target channels.',
  },
  HERALD_ERR_FORBIDDEN_ADMIN: {
    status: 403,
    message: 'The admin API needs an admin token (claim "admin": true) or an admin API key.',
  },
  HERALD_ERR_CSRF: {
    status: 403,
    message:
      'Cookie-authenticated changes need the X-Herald-CSRF header equal to the herald_csrf cookie, from an allowed origin.',
  },
  HERALD_ERR_FORBIDDEN_INBOX: {
    status: 403,
    message:
      "Only an admin, or an API key that may publish to user:{userId}, may act on another user's inbox.",
  },
  HERALD_ERR_KEY_NOT_FOUND: { status: 404, message: 'No API key with this id.' },
  HERALD_ERR_NOTIFICATION_NOT_FOUND: {
    status: 404,
    message: 'No such notification in this inbox.',
  },
  HERALD_ERR_TEMPLATE_NOT_FOUND: {
    status: 404,
    message: 'No template with this name; create it with PUT /templates/{name}.',
  },
  HERALD_ERR_TEMPLATE_INVALID: {
    status: 400,
    message: 'The template is invalid; see the detail for the field at fault.',
  },
  HERALD_ERR_TEMPLATE_VARIABLE_MISSING: {
    status: 400,
    message: 'The template needs variables that were not given; the detail names them.',
  },
  HERALD_ERR_PUSH_SUBSCRIPTION_INVALID: {
    status: 400,
    message:
      'Send the browser\'s PushSubscription as JSON: { "endpoint": "https://…", "keys": { "p256dh": "…", "auth": "…" } }.',
  },
  HERALD_ERR_PUSH_SUBSCRIPTION_NOT_FOUND: {
    status: 404,
    message: 'No push subscription with this id or endpoint for this user.',
  },
  HERALD_ERR_WEBHOOK_URL_REFUSED: {
    status: 400,
    message:
      'The webhook URL resolves to a loopback, private, link-local or metadata address; an operator may allow it with deliveryAllowedAddresses.',
  },
  HERALD_ERR_WEBHOOK_NOT_FOUND: { status: 404, message: 'No webhook with this id for this user.' },
  HERALD_ERR_NOT_STREAM_CHANNEL: {
    status: 400,
    message: 'Token streams live on stream channels only: name the channel ai:{session}.',
  },
  HERALD_ERR_STREAM_BAD_LINE: {
    status: 400,
    message:
      'Each line of a stream body is one JSON object: {"meta":{…}} (first line only), {"token":"…"}, {"tokens":["…"]} or {"end":"done"} or {"end":"error"} (last line).',
  },
  HERALD_ERR_STREAM_ACTIVE: {
    status: 409,
    message:
      'An answer is still streaming on this channel; cancel it (POST /streams/{channel}/cancel) or wait for its end.',
  },
  HERALD_ERR_STREAM_TOO_LONG: {
    status: 413,
    message: 'The answer passed streamMaxTokens or streamMaxBytes; it was ended with reason error.',
  },
  HERALD_ERR_DEV_MODE_OFF: {
    status: 404,
    message: 'Development token minting is off; start the server with --dev (never in production).',
  },
  HERALD_ERR_NOT_FOUND: { status: 404, message: 'No such route.' },
  HERALD_ERR_BODY_TOO_LARGE: {
    status: 413,
    message: 'The request body is larger than maxBodyBytes.',
  },
  HERALD_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Send the body as application/json.',
  },
  HERALD_ERR_INVALID_IDEMPOTENCY_KEY: {
    status: 400,
    message: 'Idempotency-Key must be 1-200 visible ASCII characters (no spaces), sent once.',
  },
  HERALD_ERR_IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    message:
      'A request with this Idempotency-Key is still being processed; retry after Retry-After.',
  },
  HERALD_ERR_IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'This Idempotency-Key was used for a different request; use a new key per request.',
  },
  HERALD_ERR_RATE_LIMITED: {
    status: 429,
    message: 'Too many requests; wait the number of seconds in Retry-After, then retry.',
  },
  HERALD_ERR_TOO_MANY_CONNECTIONS: {
    status: 429,
    message: 'Too many open streams for this user, address or node; close one or retry later.',
  },
  HERALD_ERR_SHUTTING_DOWN: {
    status: 503,
    message: 'The server is shutting down; retry on another node or in a moment.',
  },
  HERALD_ERR_STORE_UNAVAILABLE: {
    status: 503,
    message: 'The event store is unavailable; nothing was stored. Retry later.',
    retryAfterSec: 1,
  },
  // Every answer that Redis being away decides (an ephemeral event, a new stream, a
  // fail-closed rate limit) has this one code, so a client needs one rule for an outage.
  HERALD_ERR_BROKER_UNAVAILABLE: {
    status: 503,
    message:
      'Redis (the broker between nodes) is unreachable: an ephemeral event was not delivered, a new stream could not subscribe, or rate limits could not be checked. Nothing durable was lost; retry after Retry-After.',
    retryAfterSec: 1,
  },
  HERALD_ERR_INTERNAL: { status: 500, message: 'Internal error; it has been logged.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalogue;

export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  /** Response headers that belong to the answer (e.g. `Retry-After` on a 429). */
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(code: ErrorCode, detail?: string, headers?: Readonly<Record<string, string>>) {
    const spec = errorCatalogue[code];
    super(detail ? `${spec.message} (${detail})` : spec.message);
    this.name = 'HeraldError';
    this.code = code;
    this.status = spec.status;
    this.detail = detail;
    const retryAfter: number | undefined = (spec as ErrorSpec).retryAfterSec;
    this.headers =
      retryAfter === undefined ? headers : { 'Retry-After': String(retryAfter), ...headers };
  }

  /** The JSON body sent to clients: stable code, human message, optional detail. */
  toJSON(): { error: { code: ErrorCode; message: string; detail?: string } } {
    const body: { code: ErrorCode; message: string; detail?: string } = {
      code: this.code,
      message: errorCatalogue[this.code].message,
    };
    if (this.detail !== undefined) body.detail = this.detail;
    return { error: body };
  }
}
