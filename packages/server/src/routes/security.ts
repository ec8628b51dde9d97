import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { CSRF_COOKIE, TOKEN_COOKIE } from '../auth/request-credential.js';
import { authenticate, authenticateAdmin, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { isValidChannel } from '../hub/channel-name.js';
import { requireObject, requiredString } from '../http/publish-input.js';

function cookie(
  name: string,
  value: string,
  maxAgeSec: number,
  httpOnly: boolean,
  secure: boolean,
): string {
  return [
    `${name}=${value}`,
    'Path=/',
    `Max-Age=${maxAgeSec}`,
    'SameSite=Lax',
    ...(httpOnly ? ['HttpOnly'] : []),
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** A publish grant: a channel name, or a prefix pattern ending in ":*". */
function grantList(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 100) {
    throw new HeraldError(
      'HERALD_ERR_BAD_REQUEST',
      '"publish" must be an array of at most 100 grants',
    );
  }
  return value.map((g: unknown) => {
    const base = typeof g === 'string' && g.endsWith(':*') ? g.slice(0, -2) : g;
    if (typeof g !== 'string' || typeof base !== 'string' || !isValidChannel(base)) {
      throw new HeraldError('HERALD_ERR_BAD_REQUEST', `invalid grant ${JSON.stringify(g)}`);
    }
    return g;
  });
}

/**
 * Browser sessions and API key management.
 *
 * `POST /auth/cookie` turns a bearer token into an HttpOnly `herald_token` cookie (so
 * EventSource can authenticate without putting the token in the URL) plus a readable
 * `herald_csrf` cookie whose value the page echoes in `X-Herald-CSRF` on changes.
 * `POST /auth/logout` clears both. The admin routes create, list and revoke stored API keys.
 */
export const securityRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  app.post('/auth/cookie', async (req, reply) => {
    const principal = await authenticate(ctx, req, 'header');
    if (principal.kind !== 'token' || principal.expiresAt === undefined) {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        'only a token with an expiry can become a cookie',
      );
    }
    const header = req.headers.authorization ?? '';
    const token = header.replace(/^Bearer\s+/i, '').trim();
    const maxAge = Math.max(0, Math.floor((principal.expiresAt - Date.now()) / 1000));
    const csrf = randomBytes(24).toString('base64url');
    const secure = ctx.config.cookieSecure;
    void reply.header('Set-Cookie', [
      cookie(TOKEN_COOKIE, token, maxAge, true, secure),
      cookie(CSRF_COOKIE, csrf, maxAge, false, secure),
    ]);
    return { csrf, expiresIn: maxAge };
  });

  app.post('/auth/logout', async (req, reply) => {
    await authenticate(ctx, req, 'cookie-csrf');
    const secure = ctx.config.cookieSecure;
    void reply.header('Set-Cookie', [
      cookie(TOKEN_COOKIE, '', 0, true, secure),
      cookie(CSRF_COOKIE, '', 0, false, secure),
    ]);
    return { ok: true };
  });

  app.get('/admin/keys', async (req) => {
    await authenticateAdmin(ctx, req);
    return { keys: await ctx.tokens.listKeys() };
  });

  app.post('/admin/keys', async (req, reply) => {
    await authenticateAdmin(ctx, req);
    const body = requireObject(req.body);
    const name = requiredString(body['name'], 'name', 100);
    const publish = grantList(body['publish']);
    const admin = body['admin'] === true;
    const { id, key } = await ctx.tokens.createKey({ name, publish, admin });
    req.log.info({ keyId: id, name, admin }, 'api key created');
    return reply.code(201).send({ id, key, name, publish, admin });
  });

  app.delete('/admin/keys/:id', async (req) => {
    await authenticateAdmin(ctx, req);
    const { id } = req.params as { id: string };
    if (!(await ctx.tokens.revokeKey(id))) throw new HeraldError('HERALD_ERR_KEY_NOT_FOUND');
    req.log.info({ keyId: id }, 'api key revoked');
    return { id, revoked: true };
  });
};
