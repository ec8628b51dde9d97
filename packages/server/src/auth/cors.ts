import type { FastifyInstance } from 'fastify';

const ALLOWED_HEADERS =
  'Authorization, Content-Type, Last-Event-ID, X-Herald-Key, X-Herald-CSRF, Idempotency-Key';
const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE';

/**
 * CORS from an exact allowlist of origins. A listed origin is echoed back (never `*`, which
 * browsers refuse with credentials anyway) with `Access-Control-Allow-Credentials: true`;
 * `Vary: Origin` is always set so a cache never serves one origin's answer to another. An
 * unlisted origin gets no CORS headers at all, so the browser blocks the response, and a
 * preflight from it gets 403.
 */
export function corsHook(app: FastifyInstance, allowed: readonly string[]): void {
  const origins = new Set(allowed);
  // A callback hook, not an async one: it runs for every request, and has nothing to await.
  app.addHook('onRequest', (req, reply, done) => {
    void reply.header('Vary', 'Origin');
    const origin = req.headers.origin;
    if (origin === undefined) return done();
    const ok = origins.has(origin);
    if (ok) {
      void reply.header('Access-Control-Allow-Origin', origin);
      void reply.header('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      // Answered here: the hook chain ends with the reply, so `done` is not called.
      if (!ok) return void reply.code(403).send();
      return void reply
        .code(204)
        .header('Access-Control-Allow-Methods', ALLOWED_METHODS)
        .header('Access-Control-Allow-Headers', ALLOWED_HEADERS)
        .header('Access-Control-Max-Age', '600')
        .send();
    }
    done();
  });
}
