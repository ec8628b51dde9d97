/**
 * The client's error codes: the server's `HERALD_ERR_*` codes (docs/errors.md) pass through
 * as they are; these are the ones the client adds for what it sees on its own side.
 */
export type ClientErrorCode =
  | 'network' // the request or the stream failed below HTTP (DNS, refused, reset, offline)
  | 'auth' // 401 that a fresh token did not cure, or getToken() failed
  | 'reset' // the server could not resume the cursor (in-band `reset`)
  | 'protocol' // the answer is not Herald's: wrong content type, bad JSON, a proxy's page
  | 'too-large' // a line or an event over the parser's bound
  | 'stall' // the stream sent nothing (not even a heartbeat) for stallTimeoutMs
  | 'blocked' // a non-Herald 4xx on the stream route (a proxy refusing text/event-stream)
  | `HERALD_ERR_${string}`;

/** Every error the client reports or throws. */
export class HeraldClientError extends Error {
  override readonly name = 'HeraldClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** The HTTP status, when an answer came. */
    readonly status?: number,
    /** From `Retry-After`, in milliseconds. */
    readonly retryAfterMs?: number,
    /** The server's `detail`, when it gave one. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** Reads Herald's error body (`{ error: { code, message, detail } }`) into a typed error. */
export async function errorFromResponse(res: Response): Promise<HeraldClientError> {
  const ra = res.headers.get('retry-after');
  const retryAfterMs = ra !== null && /^\d+$/.test(ra.trim()) ? Number(ra) * 1000 : undefined;
  let body: { error?: { code?: unknown; message?: unknown; detail?: unknown } } | undefined;
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON: not Herald's answer
  }
  const e = body?.error;
  if (e && typeof e.code === 'string' && e.code.startsWith('HERALD_ERR_')) {
    return new HeraldClientError(
      e.code as ClientErrorCode,
      typeof e.message === 'string' ? e.message : e.code,
      res.status,
      retryAfterMs,
      typeof e.detail === 'string' ? e.detail : undefined,
    );
  }
  return new HeraldClientError(
    res.status < 500 && res.status !== 429 ? 'blocked' : 'network',
    `HTTP ${res.status} without a Herald error body (a proxy?)`,
    res.status,
    retryAfterMs,
  );
}
