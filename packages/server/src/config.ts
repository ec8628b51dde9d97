/**
 * Herald's one source of configuration. Each option is declared once below with its type,
 * default, environment variable, CLI flag and one line of documentation; `loadConfig`
 * merges defaults < JSON file (--config) < environment < CLI flags and validates every value.
 * `docs/configuration.md` lists the same table; a test keeps them in step.
 */

type Kind = 'int' | 'string' | 'bool' | 'list';

interface OptionSpec<K extends Kind> {
  readonly kind: K;
  readonly env: string;
  readonly flag: string;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

type ValueOf<K extends Kind> = K extends 'int'
  ? number
  : K extends 'bool'
    ? boolean
    : K extends 'list'
      ? string[]
      : string;

function opt<K extends Kind>(
  kind: K,
  env: string,
  flag: string,
  def: ValueOf<K>,
  doc: string,
  extra: { min?: number; max?: number; choices?: readonly string[] } = {},
): OptionSpec<K> & { readonly default: ValueOf<K> } {
  return { kind, env, flag, default: def, doc, ...extra };
}

export const options = {
  port: opt('int', 'HERALD_PORT', '--port', 8080, 'TCP port to listen on (0 picks a free port).', {
    min: 0,
    max: 65535,
  }),
  host: opt(
    'string',
    'HERALD_HOST',
    '--host',
    '',
    'Address to bind. Empty means 0.0.0.0, or 127.0.0.1 when dev mode is on.',
  ),
  dataDir: opt(
    'string',
    'HERALD_DATA_DIR',
    '--data-dir',
    './data',
    'Directory for the SQLite file and the generated JWT secret.',
  ),
  sqlitePath: opt(
    'string',
    'HERALD_SQLITE_PATH',
    '--sqlite-path',
    '',
    'SQLite database file. Empty means <dataDir>/herald.db.',
  ),
  databaseUrl: opt(
    'string',
    'HERALD_DATABASE_URL',
    '--database-url',
    '',
    'PostgreSQL URL (postgres://user:password@host:5432/db) for a cluster. Empty means the SQLite file.',
  ),
  redisUrl: opt(
    'string',
    'HERALD_REDIS_URL',
    '--redis-url',
    '',
    'Redis URL (redis://host:6379) carrying live events between nodes. Empty means in-process only.',
  ),
  dev: opt(
    'bool',
    'HERALD_DEV',
    '--dev',
    false,
    'Development mode: the demo page may mint a token for any user. Refused when NODE_ENV=production.',
  ),
  jwtSecret: opt(
    'string',
    'HERALD_JWT_SECRET',
    '--jwt-secret',
    '',
    'HS256 secret for tokens (at least 32 characters). Empty: generated once and kept in <dataDir>/jwt-secret.',
  ),
  jwtIssuer: opt(
    'string',
    'HERALD_JWT_ISSUER',
    '--jwt-issuer',
    '',
    'When set, tokens must carry this "iss" and minted tokens get it.',
  ),
  jwtAudience: opt(
    'string',
    'HERALD_JWT_AUDIENCE',
    '--jwt-audience',
    '',
    'When set, tokens must carry this "aud" and minted tokens get it.',
  ),
  apiKeys: opt(
    'list',
    'HERALD_API_KEYS',
    '--api-keys',
    [],
    'Comma-separated publisher API keys (at least 24 characters each); each may publish to any channel.',
  ),
  publicChannels: opt(
    'list',
    'HERALD_PUBLIC_CHANNELS',
    '--public-channels',
    ['broadcast'],
    'Channels every authenticated subscriber may read (POST /broadcast without users goes to "broadcast").',
  ),
  heartbeatMs: opt(
    'int',
    'HERALD_HEARTBEAT_MS',
    '--heartbeat-ms',
    15_000,
    'Period of heartbeat comments on every stream; keep it below your proxy read timeout.',
    { min: 100, max: 3_600_000 },
  ),
  retryMs: opt(
    'int',
    'HERALD_RETRY_MS',
    '--retry-ms',
    2_000,
    'The "retry:" hint sent to clients: how long EventSource waits before reconnecting.',
    { min: 0, max: 600_000 },
  ),
  sendBufferBytes: opt(
    'int',
    'HERALD_SEND_BUFFER_BYTES',
    '--send-buffer-bytes',
    1_048_576,
    'Per-connection byte budget of unsent data; a client further behind is disconnected (it resumes losslessly).',
    { min: 1024 },
  ),
  maxBodyBytes: opt(
    'int',
    'HERALD_MAX_BODY_BYTES',
    '--max-body-bytes',
    262_144,
    'Largest accepted request body; larger bodies get 413 without being read in full.',
    { min: 1024 },
  ),
  maxChannelsPerConnection: opt(
    'int',
    'HERALD_MAX_CHANNELS',
    '--max-channels',
    64,
    'Most channels one stream (or one publish) may name.',
    { min: 1, max: 10_000 },
  ),
  replayMax: opt(
    'int',
    'HERALD_REPLAY_MAX',
    '--replay-max',
    10_000,
    'Most events replayed on one connection; past it the stream closes and the client resumes where it stopped.',
    { min: 1 },
  ),
  replayPageSize: opt(
    'int',
    'HERALD_REPLAY_PAGE',
    '--replay-page',
    500,
    'Events read from the store per replay query.',
    { min: 1, max: 10_000 },
  ),
  retentionMaxAgeSec: opt(
    'int',
    'HERALD_RETENTION_MAX_AGE_SEC',
    '--retention-max-age-sec',
    7 * 24 * 3600,
    'Durable events older than this are deleted (0 keeps them forever).',
    { min: 0 },
  ),
  retentionMaxEvents: opt(
    'int',
    'HERALD_RETENTION_MAX_EVENTS',
    '--retention-max-events',
    10_000,
    'Most durable events kept per channel; older ones are deleted (0 means no limit).',
    { min: 0 },
  ),
  retentionIntervalSec: opt(
    'int',
    'HERALD_RETENTION_INTERVAL_SEC',
    '--retention-interval-sec',
    60,
    'How often the retention sweep runs.',
    { min: 1 },
  ),
  shutdownGraceMs: opt(
    'int',
    'HERALD_SHUTDOWN_GRACE_MS',
    '--shutdown-grace-ms',
    10_000,
    'On SIGTERM, how long in-flight publishes may take before the process exits anyway.',
    { min: 0 },
  ),
  logLevel: opt('string', 'HERALD_LOG_LEVEL', '--log-level', 'info', 'pino log level.', {
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  }),
  trustProxy: opt(
    'bool',
    'HERALD_TRUST_PROXY',
    '--trust-proxy',
    false,
    'Trust X-Forwarded-For from the proxy in front (set it only behind your own proxy).',
  ),
  webDir: opt(
    'string',
    'HERALD_WEB_DIR',
    '--web-dir',
    '',
    'Directory of the web UI served at /. Empty means the bundled apps/web.',
  ),
};

export type OptionName = keyof typeof options;
export type Config = { -readonly [N in OptionName]: ValueOf<(typeof options)[N]['kind']> };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function parseValue(name: string, spec: OptionSpec<Kind>, raw: unknown): unknown {
  switch (spec.kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : NaN;
      if (!Number.isInteger(n))
        throw new ConfigError(`${name}: expected an integer, got ${String(raw)}`);
      if (spec.min !== undefined && n < spec.min)
        throw new ConfigError(`${name}: must be >= ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max)
        throw new ConfigError(`${name}: must be <= ${spec.max}, got ${n}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on', ''].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      throw new ConfigError(`${name}: expected true or false, got ${String(raw)}`);
    }
    case 'list': {
      if (Array.isArray(raw)) return raw.map(String);
      return String(raw)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    }
    case 'string': {
      if (typeof raw !== 'string') throw new ConfigError(`${name}: expected a string`);
      if (spec.choices && !spec.choices.includes(raw))
        throw new ConfigError(`${name}: must be one of ${spec.choices.join(', ')}, got ${raw}`);
      return raw;
    }
  }
}

export function defaultConfig(): Config {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(options)) {
    const def = spec.default;
    out[name] = Array.isArray(def) ? [...def] : def;
  }
  return out as Config;
}

/**
 * Builds a validated Config. `file` is an already-parsed JSON object (keys are option names),
 * `env` usually `process.env`, `argv` the CLI flags (`--port 9000`, `--dev`, `--port=9000`).
 */
export function loadConfig(
  sources: {
    file?: Record<string, unknown>;
    env?: Record<string, string | undefined>;
    argv?: readonly string[];
    overrides?: Partial<Config>;
  } = {},
): Config {
  const cfg = defaultConfig() as Record<string, unknown>;
  const specs = options as Record<string, OptionSpec<Kind>>;
  for (const [key, value] of Object.entries(sources.file ?? {})) {
    const spec = specs[key];
    if (!spec) throw new ConfigError(`config file: unknown option "${key}"`);
    cfg[key] = parseValue(key, spec, value);
  }
  for (const [key, spec] of Object.entries(specs)) {
    const raw = sources.env?.[spec.env];
    if (raw !== undefined) cfg[key] = parseValue(spec.env, spec, raw);
  }
  const argv = sources.argv ?? [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const entry = Object.entries(specs).find(([, s]) => s.flag === flag);
    if (!entry) throw new ConfigError(`unknown flag ${flag}`);
    const [key, spec] = entry;
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (spec.kind === 'bool') {
      const next = argv[i + 1];
      raw = next !== undefined && /^(true|false)$/i.test(next) ? (i++, next) : 'true';
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError(`${flag} needs a value`);
      raw = next;
      i++;
    }
    cfg[key] = parseValue(flag, spec, raw);
  }
  Object.assign(cfg, sources.overrides ?? {});
  const config = cfg as Config;
  validate(config, sources.env ?? {});
  return config;
}

function validate(config: Config, env: Record<string, string | undefined>): void {
  if (config.dev && env['NODE_ENV'] === 'production') {
    throw new ConfigError('dev mode refuses to run with NODE_ENV=production');
  }
  if (config.jwtSecret !== '' && config.jwtSecret.length < 32) {
    throw new ConfigError('jwtSecret: must be at least 32 characters');
  }
  for (const key of config.apiKeys) {
    if (key.length < 24) throw new ConfigError('apiKeys: every key must be at least 24 characters');
  }
}
