import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canPublish } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import type { PublishInput, PublishedEvent } from '../hub/hub.js';
import {
  channelName,
  distinct,
  eventType,
  optionalBoolean,
  requireObject,
  requiredString,
  userChannelOf,
  wireData,
} from './publish-input.js';

const PRIORITIES = ['low', 'normal', 'high', 'critical'];

/** Optional notification fields, validated: clients render them, so nothing odd gets through. */
function notificationExtras(body: Record<string, unknown>, payload: Record<string, unknown>): void {
  const { category, priority, url, data } = body;
  if (category !== undefined) payload['category'] = requiredString(category, 'category', 64);
  if (priority !== undefined) {
    if (typeof priority !== 'string' || !PRIORITIES.includes(priority)) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        `"priority" must be one of ${PRIORITIES.join(', ')}`,
      );
    }
    payload['priority'] = priority;
  }
  if (url !== undefined) {
    // Only http(s): a javascript: or data: URL in a notification is a script injection.
    let ok: boolean;
    try {
      ok = typeof url === 'string' && url.length <= 2048 && /^https?:$/.test(new URL(url).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"url" must be an http(s) URL');
    payload['url'] = url;
  }
  if (data !== undefined) payload['data'] = data;
}

/**
 * Publishing: `POST /publish` (any channels), and seed 000's `POST /notify/{userId}` and
 * `POST /broadcast`. Every route needs an API key or a token whose `publish` grants cover
 * every target channel; a partly allowed request is refused whole, before anything is sent.
 */
export function publishRoutes(app: FastifyInstance, ctx: HeraldContext): void {
  const publish = async (req: FastifyRequest, inputs: PublishInput[]) => {
    if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
    const principal = await authenticate(ctx, req, false);
    for (const input of inputs) {
      if (!canPublish(principal, input.channel))
        throw new HeraldError('HERALD_ERR_FORBIDDEN_PUBLISH');
    }
    let events: PublishedEvent[];
    try {
      events = await ctx.hub.publish(inputs);
    } catch (err) {
      if (err instanceof HeraldError) throw err;
      req.log.error({ err }, 'publish failed');
      throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
    }
    return { ids: events.map((e) => e.id), events };
  };

  app.post('/publish', async (req, reply) => {
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
    const result = await publish(
      req,
      channels.map((channel) => ({ channel, type, data, durable })),
    );
    return reply.code(202).send(result);
  });

  app.post('/notify/:userId', async (req, reply) => {
    const { userId } = req.params as { userId: string };
    const channel = userChannelOf(userId);
    const body = requireObject(req.body);
    const result = await publish(req, [notification(channel, body)]);
    return reply.code(202).send(result);
  });

  app.post('/broadcast', async (req, reply) => {
    const body = requireObject(req.body);
    const users = body['users'];
    let channels: string[];
    if (users === undefined) channels = ['broadcast'];
    else if (Array.isArray(users)) {
      if (users.length > 10_000)
        throw new HeraldError('HERALD_ERR_TOO_MANY_CHANNELS', 'at most 10000 users');
      channels = distinct(users.map(userChannelOf), 10_000);
    } else throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"users" must be an array of user ids');
    const result = await publish(
      req,
      channels.map((c) => notification(c, body)),
    );
    return reply.code(202).send(result);
  });
}

/** Builds the `notification` event of seed 000: `{ title, message, ...extras, sentAt }`. */
function notification(channel: string, body: Record<string, unknown>): PublishInput {
  const id = randomUUID();
  const payload: Record<string, unknown> = {
    id,
    title: requiredString(body['title'], 'title', 200),
    message: requiredString(body['message'], 'message', 10_000),
  };
  notificationExtras(body, payload);
  payload['sentAt'] = new Date().toISOString();
  return {
    id,
    channel,
    type: eventType(body['type'], 'notification'),
    data: JSON.stringify(payload),
    durable: optionalBoolean(body['durable'], 'durable', true),
  };
}
