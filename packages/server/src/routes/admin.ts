import type { FastifyPluginAsync } from 'fastify';
import { authenticateAdmin, type HeraldContext } from '../context.js';
import { HeraldError } from '../errors.js';
import { emptyHubStats, type HubStats } from '../hub/hub.js';
import type { WorkerSnapshot } from '../workers/worker-stats.js';

/**
 * Every worker's numbers added up. A user with streams on two workers counts on each (the
 * workers keep no shared list of users); channels are counted once, their subscribers summed.
 */
function addUp(snapshots: readonly WorkerSnapshot[]) {
  const subscribers = new Map<string, number>();
  const totals = emptyHubStats();
  let connections = 0;
  let users = 0;
  for (const s of snapshots) {
    connections += s.connections;
    users += s.users;
    for (const k of Object.keys(totals) as (keyof HubStats)[]) totals[k] += s.totals[k] ?? 0;
    for (const c of s.channelSubscribers) {
      subscribers.set(c.channel, (subscribers.get(c.channel) ?? 0) + c.subscribers);
    }
  }
  return {
    connections,
    users,
    totals,
    channelSubscribers: [...subscribers].map(([channel, n]) => ({ channel, subscribers: n })),
    workers: snapshots.map((s) => ({
      slot: s.slot,
      pid: s.pid,
      connections: s.connections,
      users: s.users,
      channels: s.channels,
      totals: s.totals,
    })),
  };
}

function intParam(raw: unknown, name: string, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', `"${name}" must be an integer ${min}-${max}`);
  }
  return n;
}

/**
 * `GET /admin/stats?top=10&limit=1000`: this node's numbers for operators and the admin UI:
 * connections, users, channels, every metric of `/metrics` as JSON, the `top` channels by
 * local subscribers, and the subscriber count of each channel (sorted by name, at most
 * `limit`; `channelsTruncated` says when there were more).
 *
 * Admin only (a token with `"admin": true`, or an admin API key; the configured `apiKeys`
 * count as admin), because it names channels, and channel names carry user ids. The numbers
 * are per node: in a cluster, ask each node, or use Prometheus for the sum. A node of
 * `herald serve --workers N` is its workers together: connections, users, channels, totals
 * and subscribers are added up over them (`workers` lists each one's); `metrics` and the
 * memory figures are the answering worker's.
 */
export const adminRoutes: FastifyPluginAsync<{ ctx: HeraldContext }> = async (app, { ctx }) => {
  app.get('/admin/stats', async (req, reply) => {
    await authenticateAdmin(ctx, req);
    const q = req.query as Record<string, unknown>;
    const top = intParam(q['top'], 'top', 10, 0, 1000);
    const limit = intParam(q['limit'], 'limit', 1000, 0, 100_000);
    const hub = ctx.hub;
    const machine = ctx.workers ? addUp(await ctx.workers.snapshots()) : undefined;
    const channels = machine?.channelSubscribers ?? hub.channelSubscribers();
    const topChannels = [...channels]
      .sort((a, b) => b.subscribers - a.subscribers || (a.channel < b.channel ? -1 : 1))
      .slice(0, top);
    channels.sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
    const mem = process.memoryUsage();
    void reply.header('cache-control', 'no-store');
    return {
      node: {
        startedAt: new Date(ctx.metrics.startedAt).toISOString(),
        uptimeSec: Math.round((Date.now() - ctx.metrics.startedAt) / 1000),
        draining: ctx.draining,
        ...ctx.metrics.backendStatus(),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
      },
      ...(ctx.workers ? { worker: ctx.workers.slot } : {}),
      connections: machine?.connections ?? hub.sessions.size,
      users: machine?.users ?? hub.userCount,
      channels: channels.length,
      totals: Object.assign({}, machine?.totals ?? hub.stats, {
        connections: machine?.connections ?? hub.sessions.size,
        channels: channels.length,
      }),
      ...(machine ? { workers: machine.workers } : {}),
      metrics: await ctx.metrics.summary(),
      topChannels,
      channelSubscribers: channels.slice(0, limit),
      channelsTruncated: channels.length > limit,
    };
  });
};
