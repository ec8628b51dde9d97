import { call, type TestServer } from './helpers.js';

export { call, type Answer } from './helpers.js';

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
