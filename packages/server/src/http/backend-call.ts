import type { FastifyRequest } from 'fastify';
import { backendUnavailable, isReportedBackendError } from '../backend-health.js';
import { HeraldError } from '../errors.js';

/**
 * Runs a service call for a request: request errors (HeraldError: a missing template
 * variable, an unknown id) pass through, anything else is the store or broker failing and
 * answers 503 with that backend's code (`HERALD_ERR_BROKER_UNAVAILABLE` when the broker
 * reported the error, `HERALD_ERR_STORE_UNAVAILABLE` otherwise). An outage is logged once by the backend's
 * health, so per request only at debug; anything unexpected is logged as an error.
 */
export async function backendCall<T>(
  req: FastifyRequest,
  what: string,
  op: () => Promise<T>,
): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof HeraldError) throw err;
    req.log[isReportedBackendError(err) ? 'debug' : 'error']({ err }, `${what} failed`);
    throw backendUnavailable(err);
  }
}
