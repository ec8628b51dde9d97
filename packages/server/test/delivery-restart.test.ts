import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HERALD_CLI, spawnHerald, waitFor } from './helpers.js';
import { RawSse } from './sse-client.js';

/**
 * The outbox survives a crash: `herald serve` as a real process is killed with SIGKILL while
 * deliveries are pending (some not yet due, some between retries), and after a restart on the
 * same data directory every one reaches the receiver exactly once.
 */
const run = promisify(execFile);
const CLI = HERALD_CLI;
const KEY = 'delivery-restart-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'herald-delivery-restart-'));

async function serve(): Promise<{ child: ChildProcess; url: string }> {
  return spawnHerald(
    [
      '--data-dir',
      dir,
      '--delivery-allowed-addresses',
      '127.0.0.1',
      '--delivery-unread-delay-sec',
      '3',
      '--delivery-retry-base-ms',
      '100',
      '--delivery-retry-max-sec',
      '1',
      '--delivery-max-attempts',
      '100',
      '--delivery-poll-interval-ms',
      '50',
      // A job in flight at the kill stays leased for 2 × timeout + 5 s = 7 s.
      '--delivery-timeout-ms',
      '1000',
    ],
    { HERALD_API_KEYS: KEY },
  );
}

async function api(
  url: string,
  method: string,
  path: string,
  auth: string,
  body?: unknown,
): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(auth === KEY ? { 'x-herald-key': KEY } : { authorization: `Bearer ${auth}` }),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

describe('the outbox across a crash', () => {
  let receiver: Server;
  let base: string;
  /** Deliveries the receiver accepted, by Herald-Webhook-Id. */
  const accepted = new Map<string, number>();
  let up = false;
  let refused = 0;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (!up) {
          refused++;
          return res.writeHead(503).end();
        }
        const id = String(req.headers['herald-webhook-id']);
        accepted.set(id, (accepted.get(id) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => receiver.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends every pending delivery exactly once after SIGKILL and a restart', async () => {
    const first = await serve();
    const token = async (sub: string) =>
      (await run(process.execPath, [CLI, 'token', '--sub', sub, '--data-dir', dir])).stdout.trim();
    const [online, offline] = [await token('olive'), await token('otto')];
    await api(first.url, 'POST', '/delivery/webhooks', online, { url: `${base}/olive` });
    await api(first.url, 'POST', '/delivery/webhooks', offline, { url: `${base}/otto` });
    // Olive has a live stream: her deliveries wait the unread delay (3 s), not yet due at the kill.
    const stream = await RawSse.open(`${first.url}/events?channels=user:olive`, {
      authorization: `Bearer ${online}`,
    });
    await waitFor(() => stream.events.some((e) => e.event === 'connected'), 5000, 'stream');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (const user of ['olive', 'otto']) {
        const r = await api(first.url, 'POST', `/notify/${user}`, KEY, {
          title: `n${i}`,
          message: 'm',
        });
        ids.push(r.ids[0] as string);
      }
    }
    // Otto has none: his are due at once and refused by the receiver (503), so they sit
    // between retries.
    await waitFor(
      async () => {
        const jobs = (await api(first.url, 'GET', '/admin/delivery/jobs?userId=otto', KEY))
          .jobs as any[];
        return jobs.length === 10 && jobs.every((j) => j.state === 'pending' && j.attempts >= 1);
      },
      20_000,
      "otto's jobs retried at least once",
    );
    const pending = (
      await api(first.url, 'GET', '/admin/delivery/jobs?state=pending&limit=1000', KEY)
    ).jobs as any[];
    expect(pending).toHaveLength(20);
    expect(accepted.size).toBe(0);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    stream.close();

    up = true;
    const second = await serve();
    try {
      await waitFor(() => accepted.size === 20, 30_000, 'all 20 deliveries after the restart');
      const jobs = (await api(second.url, 'GET', '/admin/delivery/jobs?limit=1000', KEY))
        .jobs as any[];
      await waitFor(
        async () => {
          const j = (await api(second.url, 'GET', '/admin/delivery/jobs?limit=1000', KEY))
            .jobs as any[];
          return j.every((x) => x.state === 'sent');
        },
        10_000,
        'every job marked sent',
      );
      expect(jobs).toHaveLength(20);
      // Exactly once: one accepted request per job, none twice, and no job still queued.
      expect([...accepted.values()].every((n) => n === 1)).toBe(true);
      expect([...accepted.keys()].sort()).toEqual(jobs.map((j) => j.id).sort());
      expect(refused).toBeGreaterThanOrEqual(10);
      // Nothing more arrives on later passes.
      await new Promise((r) => setTimeout(r, 300));
      expect([...accepted.values()].reduce((a, b) => a + b, 0)).toBe(20);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  }, 90_000);
});
