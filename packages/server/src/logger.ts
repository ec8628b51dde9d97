import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';

export type Logger = FastifyBaseLogger;

/** Query parameters whose values are secrets and must never reach a log line. */
const SECRET_PARAMS = /([?&](?:token|access_token|api_key|key)=)[^&#]*/gi;

/** Replaces secret query values in a URL with "[REDACTED]". */
export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[REDACTED]');
}

/** Field names whose values are secrets, censored at the top level and one level down. */
const SECRET_FIELDS = [
  'token',
  'authorization',
  'cookie',
  'key',
  'apiKey',
  'apiKeys',
  'secret',
  'jwtSecret',
  'password',
  'connectionString',
  'databaseUrl',
  'redisUrl',
];

/**
 * Errors as type, message, stack, cause and their plain fields (code, errno, syscall,
 * address, severity, ...). Object-valued fields are dropped: a driver error can carry its
 * whole client or socket (pg does), which made one outage line tens of kilobytes.
 */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = pino.stdSerializers.err(err);
  for (const [field, value] of Object.entries(out)) {
    if (typeof value === 'object' && value !== null && field !== 'cause') delete out[field];
  }
  return out;
}

interface RequestLike {
  method?: string;
  url?: string;
  ip?: string;
}

/**
 * The process logger. Requests are logged by method, redacted URL and client address only:
 * headers (Authorization, Cookie, X-Herald-Key) are never serialized, and `?token=` values
 * are replaced, so credentials cannot leak into logs.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: {
      // A second line of defence: no code path logs these fields, but an object that
      // happens to carry one (a config, a headers object, a key record) is censored anyway.
      paths: SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]).concat([
        '["x-herald-key"]',
        '*["x-herald-key"]',
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-herald-key"]',
      ]),
      censor: '[REDACTED]',
    },
    serializers: {
      err: serializeError,
      req: (req: RequestLike) => ({
        method: req.method,
        url: redactUrl(req.url ?? ''),
        remoteAddress: req.ip,
      }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
