import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { backendCall } from '../http/backend-call.js';
import { parseSend } from '../http/inbox-input.js';
import {
  channelName,
  distinct,
  eventType,
  optionalBoolean,
  requireObject,
  userChannelOf,
  wireData,
} from '../http/publish-input.js';
import type { PublishInput } from '../hub/hub.js';
import type { PublishPlan } from '../hub/publish-plan.js';
import { EVERYONE, EVERYONE_CHANNEL } from '../inbox/service.js';

/**
 * Publishing: `POST /publish` (any channels), `POST /notify/{userId}` and
 * `POST /broadcast`. Every route needs an API key or a token whose `publish` grants cover
 * every target channel; a partly allowed request is refused whole, before anything is sent.
 */
export const publishRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  // Publish requests per client address are counted before the body is even read.
  const limitAddress = (req: FastifyRequest) => ctx.limits.rate.checkPublishAddress(req);

  const publish = (req: FastifyRequest, reply: FastifyReply, inputs: PublishInput[]) =>
    app.publishGate(
      req,
      reply,
      inputs.map((i) => i.channel),
      async (plan) => {
        const events = await backendCall(req, 'publish', () => ctx.hub.publish(inputs, plan));
        return { ids: events.map((e) => e.id), events };
      },
    );
  const sendNotifications = (
    req: FastifyRequest,
    owners: readonly string[],
    parsed: ReturnType<typeof parseSend>,
    plan: PublishPlan | undefined,
  ) =>
    backendCall(req, 'notification send', () =>
      ctx.inbox.send(owners, parsed.content, parsed.options, plan),
    );

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

  // `/notify` and `/broadcast` go through the inbox: each notification is stored per recipient with
  // its state (docs/inbox.md), then published; the answer keeps `ids` and `events`.
  app.post('/notify/:userId', { onRequest: limitAddress }, async (req, reply) => {
    const { userId } = req.params as { userId: string };
    const channel = userChannelOf(userId);
    const parsed = parseSend(requireObject(req.body));
    return app.publishGate(req, reply, [channel], (plan) =>
      sendNotifications(req, [channel], parsed, plan),
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
    return app.publishGate(req, reply, channels, (plan) =>
      sendNotifications(req, owners, parsed, plan),
    );
  });
};
