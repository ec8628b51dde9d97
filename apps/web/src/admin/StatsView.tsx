import type { HeraldApi } from '@herald/client/inbox';
import { useCallback, useRef, useState } from 'react';
import { formatNumber, Sparkline } from './Sparkline.js';
import { ErrorLine } from './StatusLine.js';
import { usePoll } from './use-poll.js';

type MetricSummary = number | { labels: Record<string, string>; value: number }[];

/** The fields of `GET /admin/stats` the dashboard reads. */
export interface AdminStats {
  node: {
    startedAt: string;
    uptimeSec: number;
    draining: boolean;
    store: 'up' | 'down';
    broker: 'up' | 'down';
    rssBytes: number;
    heapUsedBytes: number;
  };
  connections: number;
  users: number;
  channels: number;
  metrics: Record<string, MetricSummary>;
  topChannels: { channel: string; subscribers: number }[];
}

/** How often the dashboard asks for `/admin/stats` (documented in docs/web-admin.md). */
export const STATS_POLL_MS = 1500;
/** Samples kept for the charts: 90 s at 1.5 s. */
const SAMPLES = 60;

const total = (m: MetricSummary | undefined): number =>
  m === undefined ? 0 : typeof m === 'number' ? m : m.reduce((s, v) => s + v.value, 0);

interface Sample {
  at: number;
  connections: number;
  users: number;
  published: number;
  delivered: number;
  slowConsumers: number;
}

interface Series {
  connections: number[];
  users: number[];
  publishRate: number[];
  deliverRate: number[];
  slowCuts: number[];
}

const EMPTY: Series = {
  connections: [],
  users: [],
  publishRate: [],
  deliverRate: [],
  slowCuts: [],
};
const push = (list: number[], v: number) => [...list, v].slice(-SAMPLES);

function sampleOf(s: AdminStats): Sample {
  return {
    at: Date.now(),
    connections: s.connections,
    users: s.users,
    published: total(s.metrics['herald_events_published_total']),
    delivered: total(s.metrics['herald_events_delivered_total']),
    slowConsumers: total(s.metrics['herald_slow_consumers_total']),
  };
}

function Stat({
  name,
  value,
  unit,
  series,
  testId,
}: {
  name: string;
  value: number;
  unit?: string;
  series: number[];
  testId: string;
}) {
  return (
    <section className="stat-card" aria-label={name}>
      <h3>{name}</h3>
      <p className="admin-stat-value" data-testid={testId}>
        {formatNumber(value)}
        {unit ? <span className="stat-unit"> {unit}</span> : null}
      </p>
      <Sparkline values={series} label={name} />
    </section>
  );
}

function Health({ name, up }: { name: string; up: boolean }) {
  return (
    <li className={`health ${up ? 'health-up' : 'health-down'}`}>
      <span className="health-dot" aria-hidden="true" />
      {name}: <strong>{up ? 'up' : 'down'}</strong>
    </li>
  );
}

/** Live numbers of this node, polled every 1.5 s, each with a chart of the last 90 s. */
export function StatsView({ api }: { api: HeraldApi }) {
  const [series, setSeries] = useState<Series>(EMPTY);
  const [last, setLast] = useState<Sample | null>(null);
  const load = useCallback(() => api.get<AdminStats>('/admin/stats', { top: 8, limit: 0 }), [api]);
  const prev = useRef<Sample | null>(null);
  const onData = useCallback((s: AdminStats) => {
    const now = sampleOf(s);
    const before = prev.current;
    prev.current = now;
    const dt = before ? (now.at - before.at) / 1000 : 0;
    const rate = (a: number, b: number) => (dt > 0 ? Math.max(0, a - b) / dt : 0);
    setSeries((ser) => ({
      connections: push(ser.connections, now.connections),
      users: push(ser.users, now.users),
      publishRate: push(ser.publishRate, before ? rate(now.published, before.published) : 0),
      deliverRate: push(ser.deliverRate, before ? rate(now.delivered, before.delivered) : 0),
      slowCuts: push(
        ser.slowCuts,
        before ? Math.max(0, now.slowConsumers - before.slowConsumers) : 0,
      ),
    }));
    setLast(now);
  }, []);
  const { data, error } = usePoll(load, STATS_POLL_MS, onData);

  if (!data) return error ? <ErrorLine error={error} /> : <p>Loading statistics…</p>;
  const n = data.node;
  return (
    <div className="admin-stack">
      <ErrorLine error={error} stale />
      <div className="stat-grid">
        <Stat
          name="Connections"
          value={data.connections}
          series={series.connections}
          testId="stat-connections"
        />
        <Stat name="Users online" value={data.users} series={series.users} testId="stat-users" />
        <Stat
          name="Deliveries"
          value={series.deliverRate.at(-1) ?? 0}
          unit="/s"
          series={series.deliverRate}
          testId="stat-deliveries"
        />
        <Stat
          name="Publishes"
          value={series.publishRate.at(-1) ?? 0}
          unit="/s"
          series={series.publishRate}
          testId="stat-publishes"
        />
        <Stat
          name="Slow-consumer cuts"
          value={last?.slowConsumers ?? 0}
          unit="total"
          series={series.slowCuts}
          testId="stat-slow"
        />
      </div>
      <div className="admin-columns">
        <section className="admin-panel" aria-labelledby="node-h">
          <h3 id="node-h">This node</h3>
          <ul className="health-list">
            <Health name="Store" up={n.store === 'up'} />
            <Health name="Broker" up={n.broker === 'up'} />
            <Health name={n.draining ? 'Draining' : 'Serving'} up={!n.draining} />
          </ul>
          <dl className="admin-facts">
            <dt>Uptime</dt>
            <dd>{formatDuration(n.uptimeSec)}</dd>
            <dt>Channels</dt>
            <dd>{data.channels}</dd>
            <dt>Memory</dt>
            <dd>{Math.round(n.rssBytes / 1048576)} MB</dd>
            <dt>Events published</dt>
            <dd data-testid="stat-published-total">{formatNumber(last?.published ?? 0)}</dd>
            <dt>Events delivered</dt>
            <dd>{formatNumber(last?.delivered ?? 0)}</dd>
          </dl>
        </section>
        <section className="admin-panel" aria-labelledby="top-h">
          <h3 id="top-h">Busiest channels</h3>
          {data.topChannels.length === 0 ? (
            <p className="admin-muted">No one is connected.</p>
          ) : (
            <table className="admin-table">
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col" className="num">
                    Subscribers
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.topChannels.map((c) => (
                  <tr key={c.channel}>
                    <td>
                      <code>{c.channel}</code>
                    </td>
                    <td className="num">{c.subscribers}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <p className="admin-muted admin-small">
        Numbers of the node that answered, updated every {STATS_POLL_MS / 1000} s. In a cluster each
        node counts its own; Prometheus has the sum.
      </p>
    </div>
  );
}

function formatDuration(sec: number): string {
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
  return `${Math.floor(sec / 86400)} d ${Math.floor((sec % 86400) / 3600)} h`;
}
