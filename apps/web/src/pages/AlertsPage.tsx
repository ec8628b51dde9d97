import { SelectField, asOptions } from '../components/SelectField.js';
import { SEVERITIES, useAlertStream, useHeraldApi, type Alert, type Severity } from '@herald/react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { Bell } from '../components/Bell.js';
import { TIME_RANGES, clock, fullTime, rangeMs, type TimeRange } from '../lib/format.js';
import { useSession } from '../lib/session-context.js';

/** The shared feed this browser shows (seed 003's CEP alerts). */
export const ALERT_FEED = 'alerts';
const ROW_HEIGHT = 44;
/** Most alerts kept in the browser (oldest dropped first); the grid renders only a window. */
const MAX_ALERTS = 50_000;

type AckFilter = 'all' | 'unacked' | 'acked';

/** The rule that raised an alert: `data.rule` when the producer sent one, else its category. */
export function ruleOf(a: Alert): string {
  const d = a.data as { rule?: unknown } | null | undefined;
  return typeof d?.rule === 'string' ? d.rule : (a.category ?? '—');
}

function SeverityChip({ severity }: { severity: Severity | null | undefined }) {
  return (
    <span className="chip" data-sev={severity ?? 'info'}>
      {severity ?? 'none'}
    </span>
  );
}

function Detail({ alert, onAck }: { alert: Alert | null; onAck: (id: string) => void }) {
  if (!alert) {
    return (
      <aside className="card detail" aria-label="Alert detail">
        <p className="muted">Select an alert to see its detail.</p>
      </aside>
    );
  }
  return (
    <aside className="card detail" aria-label="Alert detail" data-testid="alert-detail">
      <div className="row">
        <SeverityChip severity={alert.severity} />
        <span className="spacer" />
        {alert.acked ? (
          <span className="chip" data-testid="acked-by">
            acked by {alert.ackedBy ?? 'someone'}
          </span>
        ) : null}
      </div>
      <h2>{alert.title}</h2>
      <p>{alert.message}</p>
      <dl>
        <dt>Rule</dt>
        <dd>{ruleOf(alert)}</dd>
        <dt>Raised</dt>
        <dd>{fullTime(alert.createdAt)}</dd>
        <dt>Acked</dt>
        <dd>{alert.ackedAt ? fullTime(alert.ackedAt) : 'not yet'}</dd>
        <dt>Id</dt>
        <dd className="small">{alert.id}</dd>
      </dl>
      {alert.data !== undefined && alert.data !== null ? (
        <pre aria-label="Alert data">{JSON.stringify(alert.data, null, 2)}</pre>
      ) : null}
      <button
        type="button"
        className="btn btn-primary"
        disabled={alert.acked}
        onClick={() => onAck(alert.id)}
      >
        {alert.acked ? 'Acknowledged' : 'Acknowledge'}
      </button>
    </aside>
  );
}

const TEST_RULES = [
  { rule: 'cpu-high', title: 'CPU 97% on db-1', severity: 'critical' },
  { rule: 'disk-full', title: 'Disk 91% on web-3', severity: 'high' },
  { rule: 'latency-p99', title: 'p99 latency 870 ms on api', severity: 'medium' },
  { rule: 'error-rate', title: '5xx rate 2.1% on checkout', severity: 'high' },
  { rule: 'cert-expiry', title: 'Certificate expires in 9 days', severity: 'low' },
] as const;

/**
 * Seed 003's event browser on the shared `alerts` feed: summary by severity, a virtualised
 * grid (stays smooth with 10,000 rows: only the visible window is in the DOM), filters by ack
 * state, severity, rule and time, a detail panel and an ack everyone sees live.
 */
export function AlertsPage() {
  const api = useHeraldApi();
  const { dev } = useSession();
  const feed = useAlertStream({ feed: ALERT_FEED, max: MAX_ALERTS });
  const [ack, setAck] = useState<AckFilter>('unacked');
  const [severities, setSeverities] = useState<ReadonlySet<Severity>>(new Set());
  const [rule, setRule] = useState('');
  const [range, setRange] = useState<TimeRange>('any');
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [sendError, setSendError] = useState<string | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);

  const rules = useMemo(() => [...new Set(feed.alerts.map(ruleOf))].sort(), [feed.alerts]);
  const since = useMemo(() => {
    const ms = rangeMs(range);
    return ms === null ? null : Date.now() - ms;
    // The range's start is fixed when it is picked; new alerts are newer anyway.
  }, [range]);
  const rows = useMemo(
    () =>
      feed.alerts.filter(
        (a) =>
          (ack === 'all' || (ack === 'acked') === a.acked) &&
          (severities.size === 0 || severities.has(a.severity ?? 'info')) &&
          (!rule || ruleOf(a) === rule) &&
          (since === null || Date.parse(a.createdAt) >= since),
      ),
    [feed.alerts, ack, severities, rule, since],
  );
  const selected = feed.alerts.find((a) => a.id === selectedId) ?? null;

  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
  });

  const toggleSeverity = (s: Severity) =>
    setSeverities((cur) => {
      const next = new Set(cur);
      if (next.has(s)) next.delete(s);
      else next.add(s);
      return next;
    });
  const onRowKey = (e: KeyboardEvent, index: number) => {
    const to = e.key === 'ArrowDown' ? index + 1 : e.key === 'ArrowUp' ? index - 1 : null;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      setSelectedId(rows[index]?.id ?? null);
    } else if (to !== null && to >= 0 && to < rows.length) {
      e.preventDefault();
      setSelectedId(rows[to]!.id);
      virtual.scrollToIndex(to);
      requestAnimationFrame(() =>
        scrollRef.current?.querySelector<HTMLElement>(`[data-index="${to}"]`)?.focus(),
      );
    }
  };
  const sendTest = () => {
    const t = TEST_RULES[Math.floor(Math.random() * TEST_RULES.length)]!;
    setSendError(null);
    api
      .post('/notifications', {
        channel: ALERT_FEED,
        title: t.title,
        message: `Rule ${t.rule} fired`,
        severity: t.severity,
        category: t.rule,
        data: { rule: t.rule, value: Math.round(Math.random() * 100) },
      })
      .catch((e: Error) => setSendError(e.message));
  };

  const summary = feed.summary;
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Event browser</h1>
          <p>
            Alerts of the <code>{ALERT_FEED}</code> feed, live; an ack shows in every browser.
          </p>
        </div>
        <span className="spacer" />
        {dev ? (
          <button type="button" className="btn" onClick={sendTest}>
            Send a test alert
          </button>
        ) : null}
        <Bell
          count={summary?.unacked ?? 0}
          noun="unacknowledged alerts"
          to="/alerts"
          pulseKey={feed.lastNewAt}
          testId="unacked-bell"
        />
      </div>
      {feed.status === 'disconnected' && feed.reason ? (
        <p className="error-box" role="alert">
          The alert stream is closed: {feed.reason.message} ({feed.reason.code})
        </p>
      ) : feed.status === 'reconnecting' ? (
        <p className="note-box" role="status">
          Reconnecting to the alert stream… {feed.reason?.code}
        </p>
      ) : null}
      {sendError || feed.actionError ? (
        <p className="error-box" role="alert">
          {sendError ?? feed.actionError?.message}
        </p>
      ) : null}

      <section className="summary-bar" aria-label="Unacknowledged by severity">
        {[...SEVERITIES].reverse().map((s) => (
          <div key={s} className="stat" data-sev={s} data-testid={`summary-${s}`}>
            <div className="stat-label">{s}</div>
            <div className="stat-value">{summary?.unackedBySeverity[s] ?? 0}</div>
          </div>
        ))}
      </section>

      <section className="card pad filters" aria-label="Alert filters">
        <label className="field">
          <span>State</span>
          <select
            className="select"
            value={ack}
            onChange={(e) => setAck(e.target.value as AckFilter)}
          >
            <option value="unacked">Unacknowledged</option>
            <option value="acked">Acknowledged</option>
            <option value="all">All</option>
          </select>
        </label>
        <SelectField
          label="Rule"
          value={rule}
          onChange={setRule}
          options={asOptions(rules)}
          all="All rules"
        />
        <SelectField
          label="Time range"
          value={range}
          onChange={(v) => setRange(v || 'any')}
          options={TIME_RANGES}
        />
        <div className="field">
          <span id="sev-label">Severity</span>
          <div className="row" role="group" aria-labelledby="sev-label">
            {SEVERITIES.map((s) => (
              <button
                key={s}
                type="button"
                className="toggle-chip"
                aria-pressed={severities.has(s)}
                onClick={() => toggleSeverity(s)}
              >
                {s}
              </button>
            ))}
          </div>
        </div>
      </section>

      <div className="browser">
        <section className="card grid-wrap" aria-label="Alerts">
          <div
            role="grid"
            aria-label="Alert grid"
            aria-readonly="true"
            aria-rowcount={rows.length + 1}
            data-testid="alert-grid"
            data-rows={rows.length}
            data-status={feed.status}
          >
            <div className="grid-head" role="row" aria-rowindex={1}>
              <span role="columnheader">Time</span>
              <span role="columnheader">Severity</span>
              <span role="columnheader">Alert</span>
              <span role="columnheader" className="col-rule">
                Rule
              </span>
              <span role="columnheader" className="col-time">
                State
              </span>
            </div>
            <div className="grid-scroll" ref={scrollRef} data-testid="alert-scroll">
              {rows.length === 0 ? (
                <p className="empty">
                  {feed.status === 'connecting' ? 'Loading…' : 'No alerts match these filters.'}
                </p>
              ) : null}
              <div style={{ height: virtual.getTotalSize(), position: 'relative' }}>
                {virtual.getVirtualItems().map((v) => {
                  const a = rows[v.index]!;
                  return (
                    <div
                      key={a.id}
                      role="row"
                      tabIndex={a.id === selectedId || (!selectedId && v.index === 0) ? 0 : -1}
                      aria-rowindex={v.index + 2}
                      aria-selected={a.id === selectedId}
                      data-index={v.index}
                      data-acked={a.acked}
                      data-testid="alert-row"
                      className="grid-row"
                      style={{ transform: `translateY(${v.start}px)` }}
                      onClick={() => setSelectedId(a.id)}
                      onKeyDown={(e) => onRowKey(e, v.index)}
                    >
                      <span role="gridcell" className="cell">
                        <time dateTime={a.createdAt}>{clock(a.createdAt)}</time>
                      </span>
                      <span role="gridcell" className="cell">
                        <SeverityChip severity={a.severity} />
                      </span>
                      <span role="gridcell" className="cell">
                        {a.title}
                      </span>
                      <span role="gridcell" className="cell col-rule">
                        {ruleOf(a)}
                      </span>
                      <span role="gridcell" className="cell col-time">
                        {a.acked ? 'acked' : 'open'}
                      </span>
                    </div>
                  );
                })}
              </div>
            </div>
          </div>
        </section>
        <Detail alert={selected} onAck={(id) => void feed.ack(id)} />
      </div>
    </>
  );
}
