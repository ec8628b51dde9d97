import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { canPublish, canSubscribe } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import {
  channelName,
  requireObject,
  requiredString,
  userChannelOf,
} from '../http/publish-input.js';

/** Lifetime of development tokens. */
const DEV_TOKEN_TTL_SEC = 12 * 3600;

/**
 * The web app's live demos (apps/web): seed 001's votes and chat, the token-streamed answer
 * (`ai:{session}`) and seed 003's alert feed. A dev token may read and publish these, so two
 * browsers signed in as anyone can share a demo page. Only dev tokens get them: in production
 * the operator's tokens carry whatever grants the operator chose.
 */
export const DEMO_CHANNELS = ['alerts', 'votes', 'chat:lobby', 'ai:*'] as const;

/** The dev answer's steady rate: one token every this many ms unless the request asks. */
const DEFAULT_TOKEN_MS = 40;

/** One answer being produced: its text so far, and how to stop it. */
interface DevStream {
  readonly stream: string;
  status: 'streaming' | 'complete' | 'cancelled' | 'error';
  text: string;
  n: number;
  stop(): void;
}

/** The canned answer of the dev producer: a few sentences about the prompt, in word tokens. */
function answerTokens(prompt: string): string[] {
  const text =
    `You asked: "${prompt}". Herald streams this answer token by token over Server-Sent ` +
    'Events. Each token is an ephemeral ai_response event on the session channel, so a slow ' +
    'reader never holds up the producer. When the answer ends, one durable ai_complete event ' +
    'carries the whole text, and a page reloaded halfway asks for the text so far and ' +
    'carries on with the live tokens, without a gap or a repeat. Press stop at any time: the ' +
    'producer ends the stream with the reason "cancelled" and every open page sees it.';
  return text.split(/(?<= )/);
}

/**
 * `POST /dev/token { "userId" }`: mints a token for any user so the web app works out of the
 * box. It exists only in dev mode (`--dev`), which prints a warning at start and refuses to
 * run with NODE_ENV=production; otherwise the route answers 404 HERALD_ERR_DEV_MODE_OFF.
 * The token reads `user:{userId}` and the demo channels, and publishes to user channels,
 * "broadcast" and the demo channels, which is what the app's demos and send forms need.
 *
 * `GET /dev/mode` answers `{ "dev": true|false }` in every mode.
 *
 * `POST /dev/ai { "channel", "prompt" }` produces a token-streamed answer on an `ai:*`
 * channel through the hub (`ai_start`, ephemeral `ai_response`, durable `ai_complete`), and
 * `GET /streams/{channel}` / `POST /streams/{channel}/cancel` read and stop the latest one.
 * They stand in, in dev mode only, for the server-side stream buffer of the AI streaming work.
 */
export const devRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  const streams = new Map<string, DevStream>();
  app.addHook('onClose', async () => {
    for (const s of streams.values()) s.stop();
  });

  const devCaller = async (req: FastifyRequest) => {
    if (!ctx.config.dev) throw new HeraldError('HERALD_ERR_DEV_MODE_OFF');
    return authenticate(ctx, req, 'header');
  };
  /** An `ai:*` channel the caller may read (`read`) or publish to. */
  const aiChannel = async (req: FastifyRequest, value: unknown, need: 'read' | 'publish') => {
    const principal = await devCaller(req);
    const channel = channelName(value);
    if (!channel.startsWith('ai:')) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', 'the channel must be an ai:* channel');
    }
    const allowed =
      need === 'read'
        ? canSubscribe(principal, channel, ctx.config.publicChannels)
        : canPublish(principal, channel);
    if (!allowed) {
      throw new HeraldError(
        need === 'read' ? 'HERALD_ERR_FORBIDDEN_CHANNEL' : 'HERALD_ERR_FORBIDDEN_PUBLISH',
      );
    }
    return channel;
  };
  const publish = (channel: string, type: string, data: unknown, durable: boolean) =>
    ctx.hub.publish([{ channel, type, data: JSON.stringify(data), durable }]);

  // The web app asks which sign-in to offer; answering 200 either way keeps a production
  // page load free of failed requests.
  app.get('/dev/mode', async () => ({ dev: ctx.config.dev }));

  app.post('/dev/token', async (req) => {
    if (!ctx.config.dev) throw new HeraldError('HERALD_ERR_DEV_MODE_OFF');
    const body = requireObject(req.body);
    const channel = userChannelOf(body['userId']);
    const userId = channel.slice('user:'.length);
    const token = await ctx.tokens.mint({
      sub: userId,
      channels: [...DEMO_CHANNELS],
      publish: ['user:*', 'broadcast', ...DEMO_CHANNELS],
      ttlSec: DEV_TOKEN_TTL_SEC,
    });
    return {
      token,
      userId,
      channels: [channel, ...ctx.config.publicChannels],
      expiresIn: DEV_TOKEN_TTL_SEC,
    };
  });

  app.post('/dev/ai', async (req, reply) => {
    const body = requireObject(req.body);
    const channel = await aiChannel(req, body['channel'], 'publish');
    const prompt = requiredString(body['prompt'], 'prompt', 2000);
    const tokenMs =
      typeof body['tokenMs'] === 'number' && body['tokenMs'] >= 1 && body['tokenMs'] <= 1000
        ? body['tokenMs']
        : DEFAULT_TOKEN_MS;
    streams.get(channel)?.stop();
    const tokens = answerTokens(prompt);
    const stream = randomUUID();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = async (reason: 'done' | 'cancelled' | 'error') => {
      clearTimeout(timer);
      if (entry.status !== 'streaming') return;
      entry.status = reason === 'done' ? 'complete' : reason;
      await publish(channel, 'ai_complete', { stream, text: entry.text, n: entry.n, reason }, true);
    };
    const entry: DevStream = {
      stream,
      status: 'streaming',
      text: '',
      n: 0,
      stop: () => void finish('cancelled').catch(() => {}),
    };
    streams.set(channel, entry);
    const next = () => {
      if (entry.status !== 'streaming') return;
      const token = tokens[entry.n];
      if (token === undefined) return void finish('done').catch(() => {});
      const i = entry.n;
      entry.text += token;
      entry.n += 1;
      publish(channel, 'ai_response', { stream, i, token }, false).then(
        () => (timer = setTimeout(next, tokenMs)),
        (err: unknown) => {
          req.log.warn({ err, channel }, 'dev answer failed');
          void finish('error').catch(() => {});
        },
      );
    };
    await publish(channel, 'ai_start', { stream, prompt }, true);
    timer = setTimeout(next, tokenMs);
    return reply.code(202).send({ stream, channel, tokens: tokens.length });
  });

  app.get('/streams/:channel', async (req) => {
    const channel = await aiChannel(req, (req.params as { channel: string }).channel, 'read');
    const s = streams.get(channel);
    if (!s) return { stream: null, status: 'idle', text: '', n: 0 };
    return { stream: s.stream, status: s.status, text: s.text, n: s.n };
  });

  app.post('/streams/:channel/cancel', async (req) => {
    const channel = await aiChannel(req, (req.params as { channel: string }).channel, 'publish');
    const s = streams.get(channel);
    const cancelled = s?.status === 'streaming';
    s?.stop();
    return { stream: s?.stream ?? null, cancelled };
  });
};
