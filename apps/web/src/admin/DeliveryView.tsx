import type { HeraldApi } from '@herald/client/inbox';
import { useCallback, useState } from 'react';
import { AdminSelect } from './AdminSelect.js';
import { formatNumber, Sparkline } from './Sparkline.js';
import { ErrorLine } from './StatusLine.js';
import { usePoll } from './use-poll.js';

/** `GET /admin/delivery/stats` (docs/delivery.md#analytics). */
interface DeliveryStats {
  since: string;
  until: string;
  totals: Record<string, Record<string, number>>;
  meanTimeToReadMs: Record<string, number>;
  buckets: { hour: string; category: string; channel: string; counter: string; count: number }[];
  jobs: { channel: string; state: string; count: number }[];
}

/** `GET /admin/delivery/jobs`. */
interface Job {
  id: string;
  channel: string;
  userId: string;
  notificationId: string;
  target: string;
  state: string;
  attempts: number;
  lastError: string | null;
  notBefore: string;
  updatedAt: string;
}

const COUNTERS = ['sent', 'delivered', 'seen', 'read', 'acked', 'failed'] as const;
const CHANNELS = ['in_app', 'push', 'email', 'webhook', 'digest'] as const;
const JOB_STATES = ['pending', 'sent', 'failed', 'skipped'] as const;
/** The channels that go through the outbox (in-app delivery is the stream itself). */
const OUTBOX_CHANNELS = CHANNELS.filter((c) => c !== 'in_app');
const HOURS = 24;
/** The rollups are flushed every 5 s; asking more often shows nothing new. */
export const DELIVERY_POLL_MS = 5000;

/** Counts per hour for the last 24 hours (oldest first) of the matching buckets. */
function hourly(
  stats: DeliveryStats,
  channel: string,
  counter: string,
  category: string,
): number[] {
  const end = Math.floor(Date.parse(stats.until) / 3_600_000);
  const out = new Array<number>(HOURS).fill(0);
  for (const b of stats.buckets) {
    if (b.channel !== channel || b.counter !== counter) continue;
    if (category && b.category !== category) continue;
    const i = HOURS - 1 - (end - Math.floor(Date.parse(b.hour) / 3_600_000));
    if (i >= 0 && i < HOURS) out[i] = (out[i] ?? 0) + b.count;
  }
  return out;
}

const channelName = (c: string) => (c === 'in_app' ? 'in-app' : c);

/** A table of counts: a row per channel, a column per counter; `bad` counts are marked. */
function CountTable({
  testId,
  channels,
  counters,
  count,
  bad = () => false,
}: {
  testId: string;
  channels: readonly string[];
  counters: readonly string[];
  count(channel: string, counter: string): number;
  bad?(counter: string, n: number): boolean;
}) {
  return (
    <div className="table-scroll">
      <table className="admin-table" data-testid={testId}>
        <thead>
          <tr>
            <th scope="col">Channel</th>
            {counters.map((c) => (
              <th scope="col" className="num" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {channels.map((ch) => (
            <tr key={ch} data-channel={ch}>
              <th scope="row">{channelName(ch)}</th>
              {counters.map((c) => {
                const n = count(ch, c);
                return (
                  <td className={bad(c, n) ? 'num bad' : 'num'} key={c} data-counter={c}>
                    {formatNumber(n)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Delivery analytics per category and channel over the last 24 hours, and the outbox. */
export function DeliveryView({ api }: { api: HeraldApi }) {
  const [category, setCategory] = useState('');
  const [jobState, setJobState] = useState('');
  const [jobChannel, setJobChannel] = useState('');
  const loadStats = useCallback(() => api.get<DeliveryStats>('/admin/delivery/stats'), [api]);
  const loadJobs = useCallback(
    () =>
      api
        .get<{ jobs: Job[] }>('/admin/delivery/jobs', {
          limit: 50,
          state: jobState || undefined,
          channel: jobChannel || undefined,
        })
        .then((r) => r.jobs),
    [api, jobState, jobChannel],
  );
  const { data: stats, error } = usePoll(loadStats, DELIVERY_POLL_MS);
  const jobs = usePoll(loadJobs, DELIVERY_POLL_MS);

  if (!stats) return error ? <ErrorLine error={error} /> : <p>Loading…</p>;
  const categories = [...new Set(stats.buckets.map((b) => b.category))].sort();
  const channels = CHANNELS.filter(
    (c) => stats.totals[c] || stats.jobs.some((j) => j.channel === c) || c === 'in_app',
  );
  const count = (ch: string, counter: string) =>
    category
      ? hourly(stats, ch, counter, category).reduce((a, b) => a + b, 0)
      : (stats.totals[ch]?.[counter] ?? 0);
  const jobCount = (ch: string, state: string) =>
    stats.jobs.find((j) => j.channel === ch && j.state === state)?.count ?? 0;

  return (
    <div className="admin-stack">
      <ErrorLine error={error} stale />
      <section className="admin-panel" aria-labelledby="dl-totals-h">
        <div className="panel-head">
          <h3 id="dl-totals-h">Last 24 hours</h3>
          <AdminSelect
            inline
            label="Category"
            name="dl-category"
            value={category}
            onChange={setCategory}
            none="All"
            options={categories}
          />
        </div>
        <CountTable
          testId="delivery-totals"
          channels={channels}
          counters={COUNTERS}
          count={count}
        />
      </section>
      <section className="admin-panel" aria-labelledby="dl-charts-h">
        <h3 id="dl-charts-h">Per hour, last 24 hours{category ? ` (${category})` : ''}</h3>
        <div className="chart-grid">
          {channels.map((ch) => (
            <div className="chart-row" key={ch}>
              <span className="chart-label">{channelName(ch)}</span>
              {COUNTERS.map((c) => (
                <figure key={c} className="chart-cell">
                  <Sparkline
                    values={hourly(stats, ch, c, category)}
                    label={`${channelName(ch)} ${c} per hour`}
                    width={96}
                    height={28}
                    bars
                  />
                  <figcaption>{c}</figcaption>
                </figure>
              ))}
            </div>
          ))}
        </div>
      </section>
      <div className="admin-columns">
        <section className="admin-panel" aria-labelledby="dl-outbox-h">
          <h3 id="dl-outbox-h">Outbox by channel</h3>
          <CountTable
            testId="delivery-outbox"
            channels={OUTBOX_CHANNELS}
            counters={JOB_STATES}
            count={jobCount}
            bad={(state, n) => state === 'failed' && n > 0}
          />
        </section>
        <section className="admin-panel" aria-labelledby="dl-ttr-h">
          <h3 id="dl-ttr-h">Mean time to read</h3>
          {Object.keys(stats.meanTimeToReadMs).length === 0 ? (
            <p className="admin-muted">Nothing read yet.</p>
          ) : (
            <dl className="admin-facts">
              {Object.entries(stats.meanTimeToReadMs).map(([c, ms]) => (
                <div key={c}>
                  <dt>{c}</dt>
                  <dd>
                    {ms < 60_000
                      ? `${(ms / 1000).toFixed(1)} s`
                      : `${(ms / 60_000).toFixed(1)} min`}
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </section>
      </div>
      <section className="admin-panel" aria-labelledby="dl-jobs-h">
        <div className="panel-head">
          <h3 id="dl-jobs-h">Jobs</h3>
          <div className="filter-row">
            <AdminSelect
              inline
              label="State"
              name="job-state"
              value={jobState}
              onChange={setJobState}
              none="Any"
              options={JOB_STATES}
            />
            <AdminSelect
              inline
              label="Channel"
              name="job-channel"
              value={jobChannel}
              onChange={setJobChannel}
              none="Any"
              options={OUTBOX_CHANNELS}
            />
          </div>
        </div>
        <ErrorLine error={jobs.error} />
        {!jobs.data ? (
          <p>Loading…</p>
        ) : jobs.data.length === 0 ? (
          <p className="admin-muted">No jobs.</p>
        ) : (
          <div className="table-scroll">
            <table className="admin-table" data-testid="delivery-jobs">
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col">User</th>
                  <th scope="col">Target</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">
                    Tries
                  </th>
                  <th scope="col">Last error</th>
                  <th scope="col">Due</th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.map((j) => (
                  <tr key={j.id}>
                    <td>{j.channel}</td>
                    <td>{j.userId}</td>
                    <td className="truncate" title={j.target}>
                      {j.target}
                    </td>
                    <td>
                      <span className={`admin-badge state-${j.state}`}>{j.state}</span>
                    </td>
                    <td className="num">{j.attempts}</td>
                    <td className="truncate" title={j.lastError ?? ''}>
                      {j.lastError ?? '–'}
                    </td>
                    <td>{new Date(j.notBefore).toLocaleTimeString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
