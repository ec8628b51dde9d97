import type { FastifyRequest } from 'fastify';
import { isReportedBackendError } from '../backend-health.js';
import type { HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import type { SendResult } from '../inbox/service.js';
import type { parseSend } from './inbox-input.js';

/** The channel notifications to everyone go live on (seed 000's `POST /broadcast`). */
export const EVERYONE_CHANNEL = 'broadcast';

/**
 * Sends a parsed notification to owners through the inbox (stored per recipient, then
 * published): the work behind `/notify`, `/broadcast` and `POST /notifications`. A failing
 * store answers 503 like every publish; request errors (a missing template variable) pass.
 */
export async function sendNotifications(
  ctx: HeraldContext,
  req: FastifyRequest,
  owners: readonly string[],
  parsed: ReturnType<typeof parseSend>,
): Promise<SendResult> {
  try {
    return await ctx.inbox.send(owners, parsed.content, parsed.options);
  } catch (err) {
    if (err instanceof HeraldError) throw err;
    req.log[isReportedBackendError(err) ? 'debug' : 'error']({ err }, 'notification send failed');
    throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
  }
}
