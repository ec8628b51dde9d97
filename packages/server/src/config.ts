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
  databaseSchema: opt(
    'string',
    'HERALD_DATABASE_SCHEMA',
    '--database-schema',
    'public',
    "PostgreSQL schema holding Herald's tables (created when missing); every node of a cluster uses the same.",
  ),
  redisPrefix: opt(
    'string',
    'HERALD_REDIS_PREFIX',
    '--redis-prefix',
    'herald:',
    "Prefix of Herald's channel names on Redis, so several clusters can share one Redis.",
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
  jwtAlgorithms: opt(
    'list',
    'HERALD_JWT_ALGORITHMS',
    '--jwt-algorithms',
    ['HS256'],
    'Accepted token algorithms (HS256, RS256, ES256); the token header never chooses.',
  ),
  jwtPublicKeyFile: opt(
    'string',
    'HERALD_JWT_PUBLIC_KEY_FILE',
    '--jwt-public-key-file',
    '',
    'PEM (SPKI) public key file that verifies RS256/ES256 tokens.',
  ),
  jwksUrl: opt(
    'string',
    'HERALD_JWKS_URL',
    '--jwks-url',
    '',
    'JWKS URL that verifies RS256/ES256 tokens (keys cached, refreshed on an unknown kid).',
  ),
  jwksCacheMaxAgeSec: opt(
    'int',
    'HERALD_JWKS_CACHE_MAX_AGE_SEC',
    '--jwks-cache-max-age-sec',
    600,
    'How long fetched JWKS keys are kept before they are fetched again.',
    { min: 1 },
  ),
  wildcardGrant: opt(
    'bool',
    'HERALD_WILDCARD_GRANT',
    '--wildcard-grant',
    false,
    'Let a bare "*" in a token\'s channels/publish claims mean every channel (admin tokens only; off by default).',
  ),
  corsOrigins: opt(
    'list',
    'HERALD_CORS_ORIGINS',
    '--cors-origins',
    [],
    'Exact origins (scheme://host:port) allowed to call Herald from a browser, with credentials. Empty: none.',
  ),
  cookieSecure: opt(
    'bool',
    'HERALD_COOKIE_SECURE',
    '--cookie-secure',
    true,
    'Mark the herald_token cookie Secure (HTTPS only). Browsers also accept it on http://localhost.',
  ),
  apiKeys: opt(
    'list',
    'HERALD_API_KEYS',
    '--api-keys',
    [],
    'Comma-separated publisher API keys (at least 24 characters each); each may publish to any channel.',
  ),
  publishApiKey: opt(
    'string',
    'HERALD_API_KEY',
    '--api-key',
    '',
    'API key the `herald publish` command sends. Empty: it mints a short-lived token from the local JWT secret.',
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
    'A stream silent this long gets a heartbeat comment; keep it below your proxy read timeout.',
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
  streamMaxTokens: opt(
    'int',
    'HERALD_STREAM_MAX_TOKENS',
    '--stream-max-tokens',
    100_000,
    'Most tokens one AI answer on an ai:{session} channel may hold in the stream buffer; past it the stream ends with reason error (docs/streams.md).',
    { min: 1, max: 10_000_000 },
  ),
  streamMaxBytes: opt(
    'int',
    'HERALD_STREAM_MAX_BYTES',
    '--stream-max-bytes',
    1_048_576,
    'Most bytes of token text one AI answer may hold in the stream buffer (and in its ai_complete).',
    { min: 1024 },
  ),
  streamGraceSec: opt(
    'int',
    'HERALD_STREAM_GRACE_SEC',
    '--stream-grace-sec',
    60,
    'How long the tokens of a finished AI answer stay in the buffer, so a client that reconnects just after the end still gets the tokens it missed.',
    { min: 0, max: 86_400 },
  ),
  streamIdleSec: opt(
    'int',
    'HERALD_STREAM_IDLE_SEC',
    '--stream-idle-sec',
    120,
    'A streaming AI answer with no new token for this long is dropped from the buffer (its producer is gone).',
    { min: 1, max: 86_400 },
  ),
  pollWaitMs: opt(
    'int',
    'HERALD_POLL_WAIT_MS',
    '--poll-wait-ms',
    25_000,
    'Longest a GET /poll with nothing new is held (long poll) before it answers empty; ?wait= may only shorten it. Keep it below your proxy read timeout.',
    { min: 0, max: 300_000 },
  ),
  pollMaxEvents: opt(
    'int',
    'HERALD_POLL_MAX_EVENTS',
    '--poll-max-events',
    500,
    'Most events in one GET /poll answer; past it the answer says "more": true and the client polls again at once.',
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
    'How often the retention sweep runs. On SQLite it deletes in slices (500 channels, about 2,000 events each), the event loop running between them.',
    { min: 1 },
  ),
  inboxRetentionMaxAgeSec: opt(
    'int',
    'HERALD_INBOX_RETENTION_MAX_AGE_SEC',
    '--inbox-retention-max-age-sec',
    90 * 24 * 3600,
    'Inbox notifications older than this are deleted, read or not (0 keeps them forever).',
    { min: 0 },
  ),
  inboxRetentionMaxPerUser: opt(
    'int',
    'HERALD_INBOX_RETENTION_MAX_PER_USER',
    '--inbox-retention-max-per-user',
    10_000,
    'Most notifications kept per inbox (user, feed, or everyone); the oldest go first (0 means no limit).',
    { min: 0 },
  ),
  inboxDedupWindowSec: opt(
    'int',
    'HERALD_INBOX_DEDUP_WINDOW_SEC',
    '--inbox-dedup-window-sec',
    300,
    'Default window in which a repeated dedupKey is dropped (a send may set dedupWindowSec).',
    { min: 1, max: 7 * 24 * 3600 },
  ),
  inboxSchedulerIntervalMs: opt(
    'int',
    'HERALD_INBOX_SCHEDULER_INTERVAL_MS',
    '--inbox-scheduler-interval-ms',
    1_000,
    'How often the one scheduler timer looks for due scheduled notifications (deliverAt).',
    { min: 50, max: 3_600_000 },
  ),
  alertHistoryWindowSec: opt(
    'int',
    'HERALD_ALERT_HISTORY_WINDOW_SEC',
    '--alert-history-window-sec',
    3_600,
    'The alert stream (GET /alerts/stream) sends notifications of this last period as "historical".',
    { min: 1 },
  ),
  alertHistoryMax: opt(
    'int',
    'HERALD_ALERT_HISTORY_MAX',
    '--alert-history-max',
    100,
    'Most notifications in the alert stream\'s "historical" event.',
    { min: 0, max: 1_000 },
  ),
  alertPingMs: opt(
    'int',
    'HERALD_ALERT_PING_MS',
    '--alert-ping-ms',
    15_000,
    'Period of the alert stream\'s "ping" event, sent to every alert stream from one timer.',
    { min: 100, max: 3_600_000 },
  ),
  drainWindowMs: opt(
    'int',
    'HERALD_DRAIN_WINDOW_MS',
    '--drain-window-ms',
    10_000,
    'On SIGTERM, streams are closed one by one, spread evenly over this window, so their clients reconnect (to other nodes) gradually, not all at once. 0 closes them all at once.',
    { min: 0, max: 3_600_000 },
  ),
  shutdownGraceMs: opt(
    'int',
    'HERALD_SHUTDOWN_GRACE_MS',
    '--shutdown-grace-ms',
    20_000,
    'On SIGTERM, how long the drain (the drain window, then in-flight publishes) may take before the process exits anyway; must exceed drainWindowMs.',
    { min: 0 },
  ),
  workers: opt(
    'int',
    'HERALD_WORKERS',
    '--workers',
    0,
    'Processes (event loops) `herald serve` runs on the one port, with the primary relaying live events, rate limits and AI token buffers between them. 0: one per core in production, 1 in dev mode.',
    { min: 0, max: 256 },
  ),
  helperThreadNice: opt(
    'int',
    'HERALD_HELPER_THREAD_NICE',
    '--helper-thread-nice',
    19,
    "Linux: nice level given to the process's helper threads (SQLite checkpoint, V8 GC, libuv pool) so the event loop gets the core first; never raises a priority. 0 leaves them as they are.",
    { min: 0, max: 19 },
  ),
  logLevel: opt('string', 'HERALD_LOG_LEVEL', '--log-level', 'info', 'pino log level.', {
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  }),
  trustProxy: opt(
    'bool',
    'HERALD_TRUST_PROXY',
    '--trust-proxy',
    false,
    'Take the client address (per-address limits, logs) from X-Forwarded-For, trusting trustProxyHops proxies in front. Set it only behind your own proxy.',
  ),
  trustProxyHops: opt(
    'int',
    'HERALD_TRUST_PROXY_HOPS',
    '--trust-proxy-hops',
    1,
    'With trustProxy: how many proxies in front of Herald append to X-Forwarded-For. The client address is taken that many entries from the right, so a client cannot forge it.',
    { min: 1, max: 16 },
  ),
  maxCursorLength: opt(
    'int',
    'HERALD_MAX_CURSOR_LENGTH',
    '--max-cursor-length',
    4096,
    'Longest accepted Last-Event-ID (header or ?lastEventId=); a longer one gets a reset event (invalid-cursor), never an error.',
    { min: 64, max: 16_384 },
  ),
  headersTimeoutMs: opt(
    'int',
    'HERALD_HEADERS_TIMEOUT_MS',
    '--headers-timeout-ms',
    10_000,
    'A request head must arrive within this (slowloris); slower ones get 408 and the connection is closed. Streams are not affected.',
    { min: 100, max: 600_000 },
  ),
  requestTimeoutMs: opt(
    'int',
    'HERALD_REQUEST_TIMEOUT_MS',
    '--request-timeout-ms',
    30_000,
    'A whole request (head and body) must arrive within this; at least headersTimeoutMs. Bounds receiving only: streams stay open.',
    { min: 100, max: 3_600_000 },
  ),
  rateLimitWindowMs: opt(
    'int',
    'HERALD_RATE_LIMIT_WINDOW_MS',
    '--rate-limit-window-ms',
    1000,
    'Length of the fixed window every rate limit counts in; the limits below are requests per window.',
    { min: 100, max: 3_600_000 },
  ),
  rateLimitPublishPerKey: opt(
    'int',
    'HERALD_RATE_LIMIT_PUBLISH_PER_KEY',
    '--rate-limit-publish-per-key',
    20_000,
    'Publish requests (/publish, /notify, /broadcast) per window per API key (0: no limit).',
    { min: 0 },
  ),
  rateLimitPublishPerUser: opt(
    'int',
    'HERALD_RATE_LIMIT_PUBLISH_PER_USER',
    '--rate-limit-publish-per-user',
    1000,
    'Publish requests per window per token user (sub) (0: no limit).',
    { min: 0 },
  ),
  rateLimitPublishPerIp: opt(
    'int',
    'HERALD_RATE_LIMIT_PUBLISH_PER_IP',
    '--rate-limit-publish-per-ip',
    20_000,
    'Publish requests per window per client address, checked before authentication (IPv6: per /64) (0: no limit).',
    { min: 0 },
  ),
  rateLimitConnectPerIp: opt(
    'int',
    'HERALD_RATE_LIMIT_CONNECT_PER_IP',
    '--rate-limit-connect-per-ip',
    2000,
    'Stream connection attempts per window per client address, checked before authentication (0: no limit).',
    { min: 0 },
  ),
  rateLimitConnectPerUser: opt(
    'int',
    'HERALD_RATE_LIMIT_CONNECT_PER_USER',
    '--rate-limit-connect-per-user',
    100,
    'Stream connection attempts per window per user (0: no limit).',
    { min: 0 },
  ),
  rateLimitFailMode: opt(
    'string',
    'HERALD_RATE_LIMIT_FAIL_MODE',
    '--rate-limit-fail-mode',
    'open',
    'With redisUrl, while Redis is unreachable: "open" counts on each node instead, "closed" refuses with 503.',
    { choices: ['open', 'closed'] },
  ),
  maxConnectionsPerUser: opt(
    'int',
    'HERALD_MAX_CONNECTIONS_PER_USER',
    '--max-connections-per-user',
    100,
    'Most open streams per user on one node (0: no cap).',
    { min: 0 },
  ),
  maxConnectionsPerIp: opt(
    'int',
    'HERALD_MAX_CONNECTIONS_PER_IP',
    '--max-connections-per-ip',
    0,
    'Most open streams per client address on one node (IPv6: per /64) (0: no cap; see the HTTP API limits).',
    { min: 0 },
  ),
  maxConnections: opt(
    'int',
    'HERALD_MAX_CONNECTIONS',
    '--max-connections',
    0,
    'Most open streams on one node; more are refused (0: no cap; set it to what one node holds).',
    { min: 0 },
  ),
  connectionCapPolicy: opt(
    'string',
    'HERALD_CONNECTION_CAP_POLICY',
    '--connection-cap-policy',
    'refuse',
    'Over a per-user or per-address cap: "refuse" the new stream (429), or "evict-oldest" (the oldest gets an evicted event and closes).',
    { choices: ['refuse', 'evict-oldest'] },
  ),
  idempotencyTtlSec: opt(
    'int',
    'HERALD_IDEMPOTENCY_TTL_SEC',
    '--idempotency-ttl-sec',
    86_400,
    'How long an Idempotency-Key is remembered: a retry within it gets the first answer, nothing is published twice.',
    { min: 1 },
  ),
  idempotencyWaitMs: opt(
    'int',
    'HERALD_IDEMPOTENCY_WAIT_MS',
    '--idempotency-wait-ms',
    5000,
    'How long a duplicate request waits for the first one with its key to finish before 409.',
    { min: 0, max: 60_000 },
  ),
  idempotencyLeaseMs: opt(
    'int',
    'HERALD_IDEMPOTENCY_LEASE_MS',
    '--idempotency-lease-ms',
    3000,
    'Lease of a running request on its Idempotency-Key, renewed every third of it while it runs: a node that dies holding a key frees it this long after its last renewal.',
    { min: 300, max: 60_000 },
  ),
  smtpHost: opt(
    'string',
    'HERALD_SMTP_HOST',
    '--smtp-host',
    '',
    'SMTP server that email deliveries and digests go through. Empty: the email channel is off.',
  ),
  smtpPort: opt(
    'int',
    'HERALD_SMTP_PORT',
    '--smtp-port',
    587,
    'SMTP port (587 submission, 465 with smtpTls=implicit, 25).',
    {
      min: 1,
      max: 65535,
    },
  ),
  smtpTls: opt(
    'string',
    'HERALD_SMTP_TLS',
    '--smtp-tls',
    'starttls',
    'SMTP transport security: "starttls" upgrades when the server offers it, "require" refuses without STARTTLS, "implicit" is TLS from the start (port 465), "off" never uses TLS.',
    { choices: ['starttls', 'require', 'implicit', 'off'] },
  ),
  smtpTlsRejectUnauthorized: opt(
    'bool',
    'HERALD_SMTP_TLS_REJECT_UNAUTHORIZED',
    '--smtp-tls-reject-unauthorized',
    true,
    'Refuse an SMTP server whose TLS certificate does not verify (turn off only for a server with a private CA you cannot install).',
  ),
  smtpUser: opt(
    'string',
    'HERALD_SMTP_USER',
    '--smtp-user',
    '',
    'SMTP user name (empty: no authentication).',
  ),
  smtpPassword: opt(
    'string',
    'HERALD_SMTP_PASSWORD',
    '--smtp-password',
    '',
    'SMTP password of smtpUser.',
  ),
  smtpFrom: opt(
    'string',
    'HERALD_SMTP_FROM',
    '--smtp-from',
    'Herald <herald@localhost>',
    'From address of every email Herald sends.',
  ),
  vapidPublicKey: opt(
    'string',
    'HERALD_VAPID_PUBLIC_KEY',
    '--vapid-public-key',
    '',
    'VAPID public key (base64url) of Web Push. Empty (with vapidPrivateKey empty): a pair is generated once and kept in the database.',
  ),
  vapidPrivateKey: opt(
    'string',
    'HERALD_VAPID_PRIVATE_KEY',
    '--vapid-private-key',
    '',
    'VAPID private key (base64url), with vapidPublicKey.',
  ),
  vapidSubject: opt(
    'string',
    'HERALD_VAPID_SUBJECT',
    '--vapid-subject',
    'mailto:admin@localhost',
    'Contact of the VAPID claims (a mailto: or https: URL) that push services may use to reach the operator.',
  ),
  deliveryUnreadDelaySec: opt(
    'int',
    'HERALD_DELIVERY_UNREAD_DELAY_SEC',
    '--delivery-unread-delay-sec',
    300,
    'A notification that reached a live stream goes out by push, email or webhook only after this delay, and only if still unread.',
    { min: 0 },
  ),
  deliveryPollIntervalMs: opt(
    'int',
    'HERALD_DELIVERY_POLL_INTERVAL_MS',
    '--delivery-poll-interval-ms',
    1_000,
    'How often the outbox looks for due delivery jobs (new jobs due at once are sent without waiting).',
    { min: 50, max: 600_000 },
  ),
  deliveryMaxAttempts: opt(
    'int',
    'HERALD_DELIVERY_MAX_ATTEMPTS',
    '--delivery-max-attempts',
    8,
    'Tries of one delivery job before it is marked failed.',
    { min: 1, max: 100 },
  ),
  deliveryRetryBaseMs: opt(
    'int',
    'HERALD_DELIVERY_RETRY_BASE_MS',
    '--delivery-retry-base-ms',
    5_000,
    'Backoff of the first retry; each further retry waits twice as long (±20%), up to deliveryRetryMaxSec.',
    { min: 10 },
  ),
  deliveryRetryMaxSec: opt(
    'int',
    'HERALD_DELIVERY_RETRY_MAX_SEC',
    '--delivery-retry-max-sec',
    3_600,
    'Longest backoff between two tries of a delivery job.',
    { min: 1 },
  ),
  deliveryTimeoutMs: opt(
    'int',
    'HERALD_DELIVERY_TIMEOUT_MS',
    '--delivery-timeout-ms',
    10_000,
    'Timeout of one push, webhook or SMTP exchange.',
    { min: 100, max: 60_000 },
  ),
  deliveryRetentionSec: opt(
    'int',
    'HERALD_DELIVERY_RETENTION_SEC',
    '--delivery-retention-sec',
    7 * 24 * 3600,
    'Finished delivery jobs (sent, failed, skipped) are kept this long for the admin API.',
    { min: 60 },
  ),
  deliveryAllowedAddresses: opt(
    'list',
    'HERALD_DELIVERY_ALLOWED_ADDRESSES',
    '--delivery-allowed-addresses',
    [],
    'Addresses and CIDR ranges (comma-separated) that webhooks and push endpoints may reach although they are loopback, private, link-local or metadata addresses.',
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
  // Node refuses a headers timeout longer than the request timeout.
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError(
      `headersTimeoutMs (${config.headersTimeoutMs}) must not exceed requestTimeoutMs (${config.requestTimeoutMs})`,
    );
  }
  // The process exits when the grace period is over: a window as long would cut the last
  // streams without their shutdown event.
  if (config.drainWindowMs > 0 && config.shutdownGraceMs <= config.drainWindowMs) {
    throw new ConfigError(
      `shutdownGraceMs (${config.shutdownGraceMs}) must be larger than drainWindowMs (${config.drainWindowMs})`,
    );
  }
}
