#!/usr/bin/env node
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createStoreBackends, streamBounds } from './backends.js';
import { TokenService, generateApiKey, loadSecret } from './auth/tokens.js';
import { createServer } from './server.js';
import { lowerHelperThreads } from './helper-threads.js';
import { createLogger } from './logger.js';
import { processLink } from './workers/link.js';
import { PrimaryLink } from './workers/primary-link.js';
import { runPrimary, WORKER_SLOT_ENV, workerCount } from './workers/primary.js';

const USAGE = `herald — a lossless real-time notification hub over Server-Sent Events

Usage:
  herald serve [--config file.json] [--port 8080] [--workers N] [--dev] [...options]
      Run the hub (one process per core unless --workers or --dev says otherwise). Every
      option is listed in docs/configuration.md (flags, HERALD_* env vars).
  herald token [--sub USER] [--channels a,b:*] [--publish user:*,alerts] [--ttl 3600] [--data-dir ./data]
      Mint a token signed with the server's secret (from HERALD_JWT_SECRET or <data-dir>/jwt-secret).
  herald keys create --name NAME [--publish 'jobs:*,alerts'] [--admin] | keys list | keys revoke ID
      Manage stored API keys (hashed in the database; a new key is printed once).
  herald publish --channel NAME [--type TYPE] [--ephemeral] [--url http://localhost:8080] DATA
      Publish DATA (JSON if it parses, else text). Authenticates with HERALD_API_KEY, or a
      short-lived token minted from the local secret.
`;

/** Splits `argv` into known command flags and the rest (server options). */
function takeFlags(
  argv: string[],
  names: readonly string[],
): { flags: Record<string, string>; rest: string[]; positional: string[] } {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (names.includes(name)) {
      const boolean = name === '--ephemeral' || name === '--admin';
      flags[name] = inline ?? (boolean ? 'true' : (argv[++i] ?? ''));
    } else if (arg.startsWith('--')) {
      rest.push(arg);
      const next = argv[i + 1];
      if (!arg.includes('=') && next !== undefined && !next.startsWith('--'))
        rest.push(argv[++i] ?? '');
    } else positional.push(arg);
  }
  return { flags, rest, positional };
}

function configFrom(argv: string[]): Config {
  const { flags, rest } = takeFlags(argv, ['--config']);
  const file = flags['--config']
    ? (JSON.parse(readFileSync(flags['--config'], 'utf8')) as Record<string, unknown>)
    : undefined;
  return loadConfig({ env: process.env, argv: rest, ...(file ? { file } : {}) });
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function serve(argv: string[]): Promise<void> {
  const config = configFrom(argv);
  if (cluster.isWorker) return serveAsWorker(config);
  const workers = workerCount(config);
  if (workers > 1) {
    const log = createLogger(config.logLevel);
    if (config.dev) log.warn('DEVELOPMENT MODE: POST /dev/token mints a token for ANY user id.');
    await prepareShared(config);
    return runPrimary({ config, log, workers, streamBounds: streamBounds(config) });
  }
  return serveAlone(config);
}

/**
 * What the workers of `--workers N` would otherwise race to create, done once before they
 * start: the generated JWT secret (each would generate its own) and the tables of the
 * database (one migration, not N at once).
 */
async function prepareShared(config: Config): Promise<void> {
  loadSecret(config.jwtSecret, config.dataDir);
  const backends = createStoreBackends(config, { log: createLogger('warn', process.stderr) });
  await backends.store.init();
  try {
    await backends.inbox.init();
    await backends.idempotency.init();
    await backends.delivery.init();
    await backends.keys?.init();
  } finally {
    await backends.store.close();
  }
}

/** One worker of `--workers N`: a whole server, sharing the port and its primary's relay. */
async function serveAsWorker(config: Config): Promise<void> {
  const slot = Number(process.env[WORKER_SLOT_ENV] ?? '0');
  const primary = new PrimaryLink(processLink(), slot);
  const logger = createLogger(config.logLevel).child({ worker: slot });
  const server = await createServer(config, { worker: primary, logger });
  await server.listen();
  lowerHelperThreads(config.helperThreadNice);
  logger.info({ pid: process.pid }, 'worker listening');
  // The primary decides when to stop (it sends SIGTERM to every worker); a Ctrl-C reaches the
  // workers too, and must not count as the "second signal" that skips the drain.
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'worker draining');
    const force = setTimeout(() => process.exit(1), config.shutdownGraceMs);
    force.unref();
    server.close().then(
      () => {
        primary.close();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'worker shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // The primary is gone (killed): nothing relays events or counts limits any more.
  process.on('disconnect', () => stop('primary gone'));
}

async function serveAlone(config: Config): Promise<void> {
  const server = await createServer(config);
  const log = server.app.log;
  if (config.dev) {
    log.warn(
      'DEVELOPMENT MODE: POST /dev/token mints a token for ANY user id. Never expose this server; never use --dev in production.',
    );
  }
  const port = await server.listen();
  lowerHelperThreads(config.helperThreadNice);
  log.info(
    { port },
    `herald listening on http://${config.host || (config.dev ? '127.0.0.1' : '0.0.0.0')}:${port}`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second Ctrl-C does not wait for the drain window.
      log.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: draining streams');
    const force = setTimeout(() => {
      log.error('shutdown grace period over; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    server.close().then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function localTokens(config: Config): TokenService {
  return new TokenService({
    secret: loadSecret(config.jwtSecret, config.dataDir),
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    apiKeys: [],
  });
}

async function token(argv: string[]): Promise<void> {
  const { flags, rest } = takeFlags(argv, ['--sub', '--channels', '--publish', '--ttl']);
  const tokens = localTokens(loadConfig({ env: process.env, argv: rest }));
  const ttl = Number(flags['--ttl'] ?? 3600);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new ConfigError('--ttl must be a positive integer');
  const sub = flags['--sub'];
  const jwt = await tokens.mint({
    channels: list(flags['--channels']),
    publish: list(flags['--publish']),
    ttlSec: ttl,
    ...(sub ? { sub } : {}),
  });
  process.stdout.write(jwt + '\n');
}

async function publish(argv: string[]): Promise<void> {
  const { flags, rest, positional } = takeFlags(argv, [
    '--channel',
    '--type',
    '--url',
    '--ephemeral',
  ]);
  const channel = flags['--channel'];
  if (!channel) throw new ConfigError('--channel is required');
  const raw = positional.join(' ');
  let data: unknown = raw;
  try {
    data = JSON.parse(raw);
  } catch {
    // plain text payload
  }
  const config = loadConfig({ env: process.env, argv: rest });
  const credential =
    config.publishApiKey || (await localTokens(config).mint({ publish: [channel], ttlSec: 60 }));
  const url = (flags['--url'] ?? `http://127.0.0.1:${config.port}`) + '/publish';
  // The client's publisher: an Idempotency-Key per call, retried on 503/429 after Retry-After.
  const { HeraldPublisher, HeraldClientError } = await import('@herald/client/node');
  const publisher = new HeraldPublisher({ url: url.replace(/\/publish$/, ''), token: credential });
  try {
    const result = await publisher.publish({
      channel,
      type: flags['--type'] ?? 'message',
      data,
      durable: flags['--ephemeral'] !== 'true',
    });
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (err) {
    if (!(err instanceof HeraldClientError)) throw err;
    process.stdout.write(
      JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n',
    );
    process.exitCode = 1;
  }
}

/** `herald keys create|list|revoke`: stored API keys, straight in the configured database. */
async function keys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const {
    flags,
    rest: serverFlags,
    positional,
  } = takeFlags(rest, ['--name', '--publish', '--admin']);
  const config = loadConfig({ env: process.env, argv: serverFlags });
  const { store, keys: keyStore } = createStoreBackends(config, {
    // stdout carries the command's answer; log lines go to stderr.
    log: createLogger('warn', process.stderr),
  });
  await store.init();
  try {
    if (!keyStore) throw new ConfigError('this store keeps no API keys');
    await keyStore.init();
    if (sub === 'create') {
      const name = flags['--name'];
      if (!name) throw new ConfigError('--name is required');
      const { id, key, hash } = generateApiKey();
      const admin = flags['--admin'] === 'true';
      const grants = list(flags['--publish']);
      await keyStore.create({
        id,
        name,
        hash,
        publish: grants,
        admin,
        createdAt: Date.now(),
        revokedAt: null,
      });
      process.stdout.write(`${key}\n`);
      process.stderr.write(`created key ${id} (${name}); the key is shown once, store it now\n`);
    } else if (sub === 'list') {
      for (const k of await keyStore.list()) {
        const state =
          k.revokedAt === null ? 'active' : `revoked ${new Date(k.revokedAt).toISOString()}`;
        process.stdout.write(
          `${k.id}\t${k.name}\t${k.admin ? 'admin' : '-'}\t${k.publish.join(',') || '-'}\t${state}\n`,
        );
      }
    } else if (sub === 'revoke') {
      const id = positional[0];
      if (!id) throw new ConfigError('usage: herald keys revoke <id>');
      if (!(await keyStore.revoke(id, Date.now()))) throw new ConfigError(`no key ${id}`);
      process.stdout.write(`revoked ${id}\n`);
    } else throw new ConfigError('usage: herald keys create|list|revoke');
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const [command, ...argv] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(argv);
    case 'token':
      return token(argv);
    case 'publish':
      return publish(argv);
    case 'keys':
      return keys(argv);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`herald: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `herald: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
