import { API_KEY, type TestServer } from './helpers.js';

export interface Answer {
  status: number;
  body: any;
}

/** One HTTP call with a user's token, or the test API key (admin). */
export async function call(
  t: TestServer,
  method: string,
  path: string,
  /** A user's token, or 'key' for the test API key. */
  auth: string,
  body?: unknown,
): Promise<Answer> {
  const headers: Record<string, string> =
    auth === 'key' ? { 'x-herald-key': API_KEY } : { authorization: `Bearer ${auth}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(t.url + path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The outbox jobs of a notification, through the admin API. */
export async function jobsOf(t: TestServer, notificationId: string): Promise<any[]> {
  const r = await call(
    t,
    'GET',
    `/admin/delivery/jobs?notificationId=${encodeURIComponent(notificationId)}`,
    'key',
  );
  return r.body.jobs as any[];
}

/** Sends one notification to a user; returns its id. */
export async function notify(
  t: TestServer,
  user: string,
  body: Record<string, unknown>,
): Promise<string> {
  const r = await t.post(`/notify/${user}`, { title: 'Hello', message: 'World', ...body });
  if (r.status !== 202) throw new Error(`notify answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.ids[0] as string;
}
