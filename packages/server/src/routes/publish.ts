import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canPublish } from '../auth/principal.js';
import { isReportedBackendError } from '../backend-health.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import type { PublishInput, PublishedEvent } from '../hub/hub.js';
import { EVERYONE } from '../inbox/inbox-store.js';
import { parseSend } from './inbox-input.js';
import { EVERYONE_CHANNEL, sendNotifications } from './notification-send.js';
import {
  channelName,
  distinct,
  eventType,
  optionalBoolean,
  requireObject,
  userChannelOf,
  wireData,
} from './publish-input.js';

/**
 * The gate of every publishing route (here, and the inbox's `POST /notifications`): not
 * draining, a header credential, within rate limits, allowed on every target channel (a
 * partly allowed request is refused whole, before anything is sent); then `work` runs under
 * the request's Idempotency-Key and its result is the 202 answer.
 */
export async function publishGate(
  ctx: HeraldContext,
  req: FastifyRequest,
  reply: FastifyReply,
  channels: readonly string[],
  work: () => Promise<unknown>,
): Promise<FastifyReply> {
  if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
  const principal = await authenticate(ctx, req, false);
  await ctx.limits.rate.checkPublisher(principal);
  for (const channel of channels) {
    if (!canPublish(principal, channel)) throw new HeraldError('HERALD_ERR_FORBIDDEN_PUBLISH');
  }
  // An Idempotency-Key makes a retry replay the first answer instead of publishing again.
  return ctx.limits.idempotency.run(req, reply, principal, work);
}

/**
 * Publishing: `POST /publish` (any channels), and seed 000's `POST /notify/{userId}` and
 * `POST /broadcast`. Every route needs an API key or a token whose `publish` grants cover
 * every target channel; a partly allowed request is refused whole, before anything is sent.
 */
export function publishRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  // Publish requests per client address are counted before the body is even read.
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkPublishAddress(req);

  const publish = (req: FastifyRequest, reply: FastifyReply, inputs: PublishInput[]) =>
    publishGate(
      ctx,
      req,
      reply,
      inputs.map((i) => i.channel),
      () => send(req, inputs),
    );

  const send = async (req: FastifyRequest, inputs: PublishInput[]) => {
    let events: PublishedEvent[];
    try {
      events = await ctx.hub.publish(inputs);
    } catch (err) {
      if (err instanceof HeraldError) throw err;
      // A store outage is logged once by the store's health; per request only at debug.
      req.log[isReportedBackendError(err) ? 'debug' : 'error']({ err }, 'publish failed');
      throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
    }
    return { ids: events.map((e) => e.id), events };
  };

  app.post('/publish', { onRequest: limitAddress }, async (req, reply) => {
    const body = requireObject(req.body);
    const list =
      body['channels'] !== undefined
        ? Array.isArray(body['channels'])
          ? body['channels']
          : [body['channels']]
        : [body['channel']];
    if (list.length > ctx.config.maxChannelsPerConnection) {
      throw new HeraldError('HERALD_ERR_TOO_MANY_CHANNELS');
    }
    const channels = distinct(list.map(channelName), ctx.config.maxChannelsPerConnection);
    const type = eventType(body['type'], 'message');
    const data = wireData(body['data']);
    const durable = optionalBoolean(body['durable'], 'durable', true);
    return publish(
      req,
      reply,
      channels.map((channel) => ({ channel, type, data, durable })),
    );
  });

  // Seed 000's routes go through the inbox: each notification is stored per recipient with
  // its state (docs/inbox.md), then published; the answer keeps `ids` and `events`.
  app.post('/notify/:userId', { onRequest: limitAddress }, async (req, reply) => {
    const { userId } = req.params as { userId: string };
    const channel = userChannelOf(userId);
    const parsed = parseSend(requireObject(req.body));
    return publishGate(ctx, req, reply, [channel], () =>
      sendNotifications(ctx, req, [channel], parsed),
    );
  });

  app.post('/broadcast', { onRequest: limitAddress }, async (req, reply) => {
    const body = requireObject(req.body);
    const users = body['users'];
    let channels: string[];
    // Without users: to everyone, stored once (EVERYONE) and live on the public channel.
    if (users === undefined) channels = [EVERYONE_CHANNEL];
    else if (Array.isArray(users)) {
      if (users.length > 10_000)
        throw new HeraldError('HERALD_ERR_TOO_MANY_CHANNELS', 'at most 10000 users');
      channels = distinct(users.map(userChannelOf), 10_000);
    } else throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"users" must be an array of user ids');
    const parsed = parseSend(body);
    const owners = users === undefined ? [EVERYONE] : channels;
    return publishGate(ctx, req, reply, channels, () =>
      sendNotifications(ctx, req, owners, parsed),
    );
  });
}
