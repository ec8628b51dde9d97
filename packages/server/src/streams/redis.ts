import { Redis } from 'ioredis';
import { quit } from '../broker/redis.js';
import {
  type AppendResult,
  type StreamBounds,
  type StreamBuffer,
  type StreamInfo,
  type StreamSlice,
  type StreamStatus,
  tokenBytes,
} from './stream-buffer.js';

export interface RedisStreamBufferOptions extends StreamBounds {
  readonly url: string;
  /** Prefix of the keys and of the cancel channel, e.g. `herald:streams:`. */
  readonly prefix: string;
  readonly onError?: (err: unknown) => void;
}

// Each script is one atomic step on the stream's two keys: KEYS[1] the hash (stream, status,
// start, bytes), KEYS[2] the token list. Key TTLs are the idle and grace deadlines, so a
// stream whose producer died goes away with no sweep.
const BEGIN = `
if redis.call('HGET', KEYS[1], 'status') == 'streaming' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'stream', ARGV[1], 'status', 'streaming', 'start', ARGV[2], 'bytes', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

const APPEND = `
local h = redis.call('HMGET', KEYS[1], 'stream', 'status', 'bytes')
if h[1] ~= ARGV[1] then return -2 end
if h[2] == 'cancelled' then return -1 end
if h[2] ~= 'streaming' then return -2 end
local n = redis.call('LLEN', KEYS[2])
local k = #ARGV - 5
if n + k > tonumber(ARGV[3]) or tonumber(h[3]) + tonumber(ARGV[5]) > tonumber(ARGV[4]) then return -3 end
if k > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 6)) end
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return n`;

const FINISH = `
if redis.call('HGET', KEYS[1], 'stream') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

const CANCEL = `
local h = redis.call('HMGET', KEYS[1], 'stream', 'status')
if h[2] ~= 'streaming' then return false end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
redis.call('PUBLISH', ARGV[1], cjson.encode({ARGV[2], h[1]}))
return h[1]`;

/** Tokens per APPEND call: Lua's unpack() has a limit of about 8,000 values. */
const APPEND_CHUNK = 1000;

/**
 * The clustered stream buffer: every node reads and writes the same Redis keys, so a
 * subscriber resumes on any node, and a cancel published by one node reaches the producer
 * on another (one pub/sub channel for every cancel, `<prefix>cancel`).
 */
export class RedisStreamBuffer implements StreamBuffer {
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly cancelChannel: string;

  constructor(private readonly options: RedisStreamBufferOptions) {
    const common = {
      lazyConnect: true,
      commandTimeout: 5000,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      keepAlive: 10_000,
      retryStrategy: (times: number) => Math.min(times * 50, 2000),
    };
    this.cmd = new Redis(options.url, {
      connectionName: 'herald:streams',
      enableAutoPipelining: true,
      ...common,
    });
    this.sub = new Redis(options.url, {
      connectionName: 'herald:streams:sub',
      // Subscribed by hand at every `ready` (see `start`). ioredis's own resubscribe has no
      // catch: when the connection drops again at once, its rejection went unhandled.
      autoResubscribe: false,
      ...common,
    });
    const onError = options.onError ?? (() => undefined);
    this.cmd.on('error', onError);
    this.sub.on('error', onError);
    this.cancelChannel = `${options.prefix}cancel`;
  }

  private keys(channel: string): [string, string] {
    const base = `${this.options.prefix}${channel}`;
    return [base, `${base}:t`];
  }

  /**
   * Does not fail when Redis is down: the node starts anyway (as with the broker; readiness
   * reports it), and the cancel channel is subscribed at every later `ready` (ioredis's own
   * resubscribe is off).
   */
  async start(onCancel: (channel: string, stream: string) => void): Promise<void> {
    const onError = this.options.onError ?? (() => undefined);
    this.sub.on('ready', () => {
      this.sub.subscribe(this.cancelChannel).catch(onError);
    });
    this.cmd.connect().catch(onError);
    // Resolves once subscribed, or at once when Redis cannot be reached now.
    await this.sub
      .connect()
      .then(() => this.sub.subscribe(this.cancelChannel).catch(onError), onError);
    this.sub.on('message', (_channel: string, message: string) => {
      try {
        const [channel, stream] = JSON.parse(message) as unknown[];
        if (typeof channel === 'string' && typeof stream === 'string') onCancel(channel, stream);
      } catch (err) {
        this.options.onError?.(err);
      }
    });
  }

  async begin(channel: string, stream: string, start: string): Promise<boolean> {
    const ok = await this.cmd.eval(
      BEGIN,
      2,
      ...this.keys(channel),
      stream,
      start,
      this.options.idleMs,
    );
    return ok === 1;
  }

  async append(channel: string, stream: string, tokens: readonly string[]): Promise<AppendResult> {
    let first: number | undefined;
    for (let at = 0; at < tokens.length || at === 0; at += APPEND_CHUNK) {
      const chunk = tokens.slice(at, at + APPEND_CHUNK);
      const { idleMs, maxTokens, maxBytes } = this.options;
      const r = Number(
        await this.cmd.eval(
          APPEND,
          2,
          ...this.keys(channel),
          stream,
          idleMs,
          maxTokens,
          maxBytes,
          tokenBytes(chunk),
          ...chunk,
        ),
      );
      if (r === -1) return { cancelled: true };
      if (r === -2) return { refused: 'gone' };
      if (r === -3) return { refused: 'too-long' };
      first ??= r;
      if (tokens.length === 0) break;
    }
    return { first: first ?? 0, cancelled: false };
  }

  async finish(
    channel: string,
    stream: string,
    status: Exclude<StreamStatus, 'streaming'>,
  ): Promise<void> {
    await this.cmd.eval(FINISH, 2, ...this.keys(channel), stream, status, this.options.graceMs);
  }

  async latest(channel: string): Promise<StreamInfo | undefined> {
    const slice = await this.read(channel, 0, 0);
    return slice && { stream: slice.stream, status: slice.status, n: slice.n, start: slice.start };
  }

  async read(
    channel: string,
    from: number,
    max: number,
    stream?: string,
  ): Promise<StreamSlice | undefined> {
    const [hash, list] = this.keys(channel);
    const tx = this.cmd.multi().hmget(hash, 'stream', 'status', 'start').llen(list);
    if (max > 0) tx.lrange(list, from, from + max - 1);
    const out = await tx.exec();
    if (!out) return undefined;
    for (const [err] of out) if (err) throw err;
    const [id, status, start] = out[0]?.[1] as (string | null)[];
    if (!id || !status || (stream !== undefined && id !== stream)) return undefined;
    const tokens = max > 0 ? (out[2]?.[1] as string[]) : [];
    return {
      stream: id,
      status: status as StreamStatus,
      start: start ?? '',
      n: Number(out[1]?.[1] ?? 0),
      from,
      tokens,
    };
  }

  async cancel(channel: string): Promise<string | undefined> {
    const [hash] = this.keys(channel);
    const r = await this.cmd.eval(CANCEL, 1, hash, this.cancelChannel, channel);
    return typeof r === 'string' ? r : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([quit(this.cmd), quit(this.sub)]);
  }
}
