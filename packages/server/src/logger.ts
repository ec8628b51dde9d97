import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js';

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

/** Longest text kept of any one field of a logged error, and of its stack. */
const ERROR_FIELD_MAX = 300;
const ERROR_STACK_MAX = 2000;

/** `text` cut to `max` characters, saying how much was left out. */
function bounded(text: string, max: number): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

/**
 * Errors as type, message, stack, cause and their plain fields (code, errno, syscall,
 * address, severity, ...), each string cut to a bounded summary. Object-valued fields are
 * dropped: a driver error can carry its whole client or socket (pg does), which made one
 * outage line tens of kilobytes. Strings are cut because PostgreSQL puts the data into its
 * errors: `detail` ("Failing row contains (…)" with the whole event), `where` and
 * `internalQuery` (the statement, a batch of thousands of rows), and the message of a bad
 * value; a log line holds what went wrong, never a payload.
 */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = pino.stdSerializers.err(err);
  for (const [field, value] of Object.entries(out)) {
    if (field === 'cause') {
      out[field] = err.cause instanceof Error ? serializeError(err.cause) : undefined;
    } else if (field === 'stack' && typeof value === 'string') {
      // Its first line is the message (and a cause's, further down): each line is cut too.
      const lines = value.split('\n').map((line) => bounded(line, ERROR_FIELD_MAX));
      out[field] = bounded(lines.join('\n'), ERROR_STACK_MAX);
    } else if (typeof value === 'string') out[field] = bounded(value, ERROR_FIELD_MAX);
    else if (typeof value === 'object' && value !== null) delete out[field];
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

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

const BINDINGS = Symbol('herald.lazyLogger.bindings');
const OPTIONS = Symbol('herald.lazyLogger.options');
const MADE = Symbol('herald.lazyLogger.made');

/** A request logger whose real child is made on its first enabled log call. */
interface LazyLogger {
  readonly [BINDINGS]: Bindings;
  readonly [OPTIONS]: ChildLoggerOptions | undefined;
  [MADE]: Logger | undefined;
}
type LazyLoggerClass = new (bindings: Bindings, options: ChildLoggerOptions | undefined) => Logger;

/**
 * Per parent logger, the class of its lazy request loggers: one object of three fields
 * each, its methods on a prototype that inherits the parent's.
 */
const lazyClasses = new WeakMap<Logger, LazyLoggerClass>();

function lazyClass(logger: Logger): LazyLoggerClass {
  const known = lazyClasses.get(logger);
  if (known) return known;
  const enabled = (level: string) =>
    (logger as Partial<pino.Logger>).isLevelEnabled?.(level) ?? true;
  const real = (lazy: LazyLogger): Logger =>
    (lazy[MADE] ??= logger.child(lazy[BINDINGS], lazy[OPTIONS]));
  class Lazy implements LazyLogger {
    readonly [BINDINGS]: Bindings;
    readonly [OPTIONS]: ChildLoggerOptions | undefined;
    [MADE]: Logger | undefined = undefined;
    constructor(bindings: Bindings, options: ChildLoggerOptions | undefined) {
      this[BINDINGS] = bindings;
      this[OPTIONS] = options;
    }
  }
  const proto = Lazy.prototype as unknown as Logger;
  Object.setPrototypeOf(proto, logger);
  for (const level of LEVELS) {
    proto[level] = function (this: LazyLogger, ...args: unknown[]) {
      if (!enabled(level)) return;
      const target = real(this);
      const write: (...a: unknown[]) => void = target[level];
      write.apply(target, args);
    };
  }
  proto.child = function (this: LazyLogger, b: Bindings, o?: ChildLoggerOptions) {
    return real(this).child(b, o);
  };
  const made = Lazy as unknown as LazyLoggerClass;
  lazyClasses.set(logger, made);
  return made;
}

/**
 * Fastify's `childLoggerFactory`: the per-request logger (it carries the request id) is made
 * on its first enabled log call, not for every request. A pino child redacts its bindings as
 * it is made, and that was 15 % of all the memory a single-event publish allocated (bench
 * `users` scenario, 2,000 publishes/s), for a logger most requests never write to. The lazy
 * logger is one small object of three fields; its methods live on a prototype shared per
 * parent logger.
 */
export function lazyRequestLogger(
  logger: Logger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): Logger {
  // A route with its own level or serializers logs differently from the parent: the real
  // child is needed to know what is enabled.
  if (options.level !== undefined || options.serializers !== undefined) {
    return logger.child(bindings, options);
  }
  // Fastify passes a fresh empty options object per request; a stream would keep it.
  const own = Object.keys(options).length > 0 ? options : undefined;
  return new (lazyClass(logger))(bindings, own);
}
