import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { canPublish, canSubscribe } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import type { StreamProducer } from '../streams/service.js';
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
 * `POST /dev/ai { "channel", "prompt" }` produces a canned token-streamed answer on an `ai:*`
 * channel through the stream service (docs/streams.md): read and stop it with
 * `GET /streams/{channel}` and `POST /streams/{channel}/cancel` like any answer.
 */
export const devRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  const producers = new Set<StreamProducer>();
  app.addHook('onClose', async () => {
    for (const p of producers) await p.end('cancelled').catch(() => {});
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
    // A new answer replaces one still running on the channel (the stop button's other half).
    await ctx.streams.cancel(channel);
    const tokens = answerTokens(prompt);
    const producer = await ctx.streams.open(channel, { prompt });
    let timer: ReturnType<typeof setTimeout> | undefined;
    producers.add(producer);
    producer.onCancel = () => clearTimeout(timer);
    const next = (i: number) => {
      const token = tokens[i];
      const step =
        token === undefined ? producer.end('done').then(() => false) : producer.write([token]);
      step.then(
        (more) => {
          if (more) timer = setTimeout(() => next(i + 1), tokenMs);
          else producers.delete(producer);
        },
        (err: unknown) => {
          producers.delete(producer);
          req.log.warn({ err, channel }, 'dev answer failed');
          void producer.end('error').catch(() => {});
        },
      );
    };
    timer = setTimeout(() => next(0), tokenMs);
    return reply.code(202).send({ stream: producer.stream, channel, tokens: tokens.length });
  });
};
