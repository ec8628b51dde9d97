import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../packages/server/test/helpers.js';
import { WEB_DIST } from './harness.js';

function get(
  url: string,
  accept: string,
): Promise<{ status: number; type: string; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { accept } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body,
          ...(res.headers.location ? { location: res.headers.location } : {}),
        }),
      );
    })
      .on('error', reject)
      .end();
  });
}

const PAGE = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('the server serves the built web app', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ dev: true, webDir: WEB_DIST });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers / with the app', async () => {
    const r = await get(t.url + '/', PAGE);
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/html');
    expect(r.body).toContain('<div id="root">');
  });

  it.each(['/app/inbox', '/app/alerts', '/app/demos/chat', '/app/admin'])(
    'answers a page load of %s with index.html',
    async (path) => {
      const r = await get(t.url + path, PAGE);
      expect(r.status).toBe(200);
      expect(r.type).toContain('text/html');
      expect(r.body).toContain('<div id="root">');
    },
  );

  it('keeps the JSON 404 for API paths, even when a browser asks for a page', async () => {
    for (const path of ['/notifications/nope/deeper', '/admin/nothing-here', '/nope']) {
      const r = await get(t.url + path, PAGE);
      expect(r.status).toBe(404);
      expect(r.type).toContain('application/json');
      expect(JSON.parse(r.body).error.code).toBe('HERALD_ERR_NOT_FOUND');
    }
  });

  it('keeps the JSON 404 for a non-page request under /app/', async () => {
    const r = await get(t.url + '/app/inbox', 'application/json');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error.code).toBe('HERALD_ERR_NOT_FOUND');
  });
});
