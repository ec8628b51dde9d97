import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { authenticate, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { isValidTemplateName } from '../inbox/template.js';
import { templateView } from '../inbox/view.js';
import { parseTemplate } from '../http/inbox-input.js';
import { requireObject } from '../http/publish-input.js';

/** Template names come from the path: checked like any other input. */
function nameOf(req: FastifyRequest): string {
  const { name } = req.params as { name: string };
  if (!isValidTemplateName(name)) {
    throw new HeraldError(
      'HERALD_ERR_TEMPLATE_INVALID',
      'names are 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit',
    );
  }
  return name;
}

/** Publishers may read templates; changing them is for admins and all-channel publishers. */
function mayRead(p: Principal): boolean {
  return p.admin || p.publishAll || p.kind === 'api-key' || p.publish.length > 0;
}
function mayWrite(p: Principal): boolean {
  return p.admin || p.publishAll;
}

/**
 * Templates (docs/inbox.md#templates): `GET /templates`, `GET|PUT|DELETE /templates/{name}`.
 * Headers-only credentials: these routes change what every later send renders.
 */
export const templateRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  const caller = async (req: FastifyRequest, write: boolean) => {
    const p = await authenticate(ctx, req, 'header');
    if (!(write ? mayWrite(p) : mayRead(p))) throw new HeraldError('HERALD_ERR_FORBIDDEN_ADMIN');
    return p;
  };
  const storeFailure = (req: FastifyRequest) => (err: unknown) => {
    if (err instanceof HeraldError) throw err;
    req.log.error({ err }, 'template operation failed');
    throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE');
  };

  app.get('/templates', async (req) => {
    await caller(req, false);
    const all = await ctx.inbox.listTemplates().catch(storeFailure(req));
    return { templates: all.map(templateView) };
  });

  app.get('/templates/:name', async (req) => {
    await caller(req, false);
    const name = nameOf(req);
    const t = await ctx.inbox.getTemplate(name).catch(storeFailure(req));
    if (!t) throw new HeraldError('HERALD_ERR_TEMPLATE_NOT_FOUND', name);
    return templateView(t);
  });

  app.put('/templates/:name', async (req) => {
    if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
    await caller(req, true);
    const name = nameOf(req);
    const spec = parseTemplate(requireObject(req.body));
    const t = await ctx.inbox.putTemplate(name, spec).catch(storeFailure(req));
    return templateView(t);
  });

  app.delete('/templates/:name', async (req) => {
    if (ctx.draining) throw new HeraldError('HERALD_ERR_SHUTTING_DOWN');
    await caller(req, true);
    const name = nameOf(req);
    const deleted = await ctx.inbox.deleteTemplate(name).catch(storeFailure(req));
    if (!deleted) throw new HeraldError('HERALD_ERR_TEMPLATE_NOT_FOUND', name);
    return { deleted: name };
  });
};
