import type { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { canPublish, canSubscribe } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { backendCall } from '../http/backend-call.js';
import { admitPublisher } from '../http/publish-gate.js';
import {
  lineBatches,
  parseStreamLine,
  type StreamLine,
  streamChannelOf,
} from '../http/stream-input.js';
import type { EndReason } from '../streams/stream-channel.js';

const NDJSON = 'application/x-ndjson';

/**
 * Token streams on `ai:{session}` channels (docs/streams.md): `POST /streams/{channel}`
 * produces one answer from an NDJSON body, `POST /streams/{channel}/cancel` stops it from any
 * node, `GET /streams/{channel}` tells where the latest answer is and its text.
 */
export const streamRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  // The body is read line by line as it arrives, never whole: an answer may be long.
  app.addContentTypeParser(NDJSON, (_req, payload, done) => done(null, payload));
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkPublishAddress(req);

  /** The channel of the route, checked readable (or publishable) by the caller. */
  const readableChannel = async (req: FastifyRequest, mode: 'stream' | 'cookie-csrf') => {
    const channel = streamChannelOf((req.params as { channel: string }).channel);
    const principal = await authenticate(ctx, req, mode);
    const may =
      canSubscribe(principal, channel, ctx.config.publicChannels) || canPublish(principal, channel);
    if (!may) throw new HeraldError('HERALD_ERR_FORBIDDEN_CHANNEL');
    return channel;
  };

  app.get('/streams/:channel', async (req) => {
    const channel = await readableChannel(req, 'stream');
    return backendCall(req, 'stream status', () => ctx.streams.status(channel));
  });

  app.post('/streams/:channel/cancel', async (req, reply) => {
    const channel = await readableChannel(req, 'cookie-csrf');
    const stream = await backendCall(req, 'stream cancel', () => ctx.streams.cancel(channel));
    return reply.code(202).send(stream ? { cancelled: true, stream } : { cancelled: false });
  });

  app.post('/streams/:channel', { onRequest: limitAddress }, async (req, reply) => {
    const channel = streamChannelOf((req.params as { channel: string }).channel);
    await admitPublisher(ctx, req, [channel]);
    const body = req.body as Readable | undefined;
    if (!body || typeof (body as Partial<Readable>).pipe !== 'function') {
      throw new HeraldError('HERALD_ERR_UNSUPPORTED_MEDIA_TYPE', `send the body as ${NDJSON}`);
    }
    const batches = lineBatches(body, ctx.config.maxBodyBytes);
    // The first line may carry the answer's meta (sent with ai_start): read it before opening,
    // so a malformed start is a plain 400 and nothing is published.
    const head = await batches.next();
    let lines: StreamLine[] = head.done ? [] : head.value.map(parseStreamLine);
    let meta: unknown;
    const first = lines[0];
    if (first && 'meta' in first) {
      meta = first.meta;
      lines = lines.slice(1);
    }
    const producer = await backendCall(req, 'stream open', () => ctx.streams.open(channel, meta));
    const { stream } = producer;

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': `${NDJSON}; charset=utf-8`,
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    const say = (o: object) => res.writableEnded || res.write(JSON.stringify(o) + '\n');
    say({ stream });
    // Told at once, whichever node the cancel came to: the producer stops its upstream.
    producer.onCancel = () => say({ stream, cancelled: true });

    let reason: EndReason = 'error';
    let error: HeraldError | undefined;
    try {
      for (;;) {
        const { tokens, end } = collect(lines);
        if (tokens.length > 0 && !(await producer.write(tokens))) break;
        if (end) {
          reason = end;
          break;
        }
        const next = await batches.next();
        if (next.done) break; // no end line: the producer stopped short
        lines = next.value.map(parseStreamLine);
      }
    } catch (err) {
      if (err instanceof HeraldError) error = err;
      else if (!req.raw.destroyed) req.log.warn({ err }, 'stream producer failed');
    }
    try {
      await producer.end(reason);
    } catch (err) {
      req.log.warn({ err }, 'stream end failed');
      error ??= new HeraldError('HERALD_ERR_BROKER_UNAVAILABLE');
    }
    // A cancelled producer may still be sending: read the rest, so it can read the answer.
    try {
      for await (const _ of body) void _;
    } catch {
      // the producer went away
    }
    const done = { stream, n: producer.n, reason: producer.reason ?? reason };
    res.end(JSON.stringify(error ? Object.assign(done, error.toJSON()) : done) + '\n');
  });
};

/** The tokens of a batch of lines, and its end line; anything after the end is refused. */
function collect(lines: readonly StreamLine[]): { tokens: string[]; end?: EndReason } {
  const tokens: string[] = [];
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!;
    if ('tokens' in line) for (const t of line.tokens) tokens.push(t);
    else if ('end' in line) {
      if (k !== lines.length - 1) {
        throw new HeraldError('HERALD_ERR_STREAM_BAD_LINE', 'lines after "end"');
      }
      return { tokens, end: line.end };
    } else throw new HeraldError('HERALD_ERR_STREAM_BAD_LINE', '"meta" only on the first line');
  }
  return { tokens };
}
