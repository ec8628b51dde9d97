import type { FastifyRequest } from 'fastify';
import type { TokenService } from './auth/tokens.js';
import type { Principal } from './auth/principal.js';
import { requestCredential } from './auth/request-credential.js';
import type { Config } from './config.js';
import { HeraldError } from './errors.js';
import type { Hub } from './hub/hub.js';

/** What every route needs: configuration, the hub, token checks, and the drain flag. */
export interface HeraldContext {
  readonly config: Config;
  readonly hub: Hub;
  readonly tokens: TokenService;
  draining: boolean;
}

/** Authenticates a request or throws the documented 401. */
export async function authenticate(
  ctx: HeraldContext,
  req: FastifyRequest,
  allowAmbient: boolean,
): Promise<Principal> {
  const cred = requestCredential(req, allowAmbient);
  if (!cred) throw new HeraldError('HERALD_ERR_UNAUTHENTICATED');
  try {
    return await ctx.tokens.authenticate(cred.value);
  } catch (err) {
    req.log.info(
      { reason: err instanceof HeraldError ? err.code : 'unknown', source: cred.source },
      'auth failure',
    );
    throw err;
  }
}
