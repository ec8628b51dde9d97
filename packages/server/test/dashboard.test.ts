import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { scrape, type Exposition } from './prom-text.js';
import { startServer, waitFor, type TestServer } from './helpers.js';

const root = resolve(import.meta.dirname, '../../..');
const read = (p: string) => readFileSync(resolve(root, p), 'utf8');

/** Every PromQL expression in a dashboard, rows' nested panels and variables included. */
function expressions(dashboard: any): string[] {
  const out: string[] = [];
  const visit = (panels: any[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push(t.expr);
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (typeof v.query === 'object' && v.query?.query) out.push(v.query.query);
  }
  return out;
}

const METRIC_NAME = /\b(?:herald|nodejs|process)_[a-z0-9_]+\b/g;

/** True when `name` is a family in the exposition, or a histogram's _bucket/_sum/_count. */
function exported(m: Exposition, name: string): boolean {
  if (m.types.has(name)) return true;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  return base !== undefined && m.types.get(base) === 'histogram';
}

describe('the Grafana dashboard, the Prometheus config and the metrics reference', () => {
  let t: TestServer;
  let m: Exposition;
  beforeAll(async () => {
    t = await startServer();
    // Some traffic, so every labelled family has samples too.
    const token = await t.token('alice');
    const s = await RawSse.open(`${t.url}/events/alice`, { authorization: `Bearer ${token}` });
    await waitFor(() => s.of('connected').length === 1);
    await t.post('/notify/alice', { title: 'a', message: 'b' });
    await waitFor(() => s.of('notification').length === 1);
    s.close();
    m = await scrape(t.url);
  });
  afterAll(async () => {
    await t.close();
  });

  it('deploy/grafana/herald.json is a Grafana dashboard whose every query uses exported metrics', () => {
    const dashboard = JSON.parse(read('deploy/grafana/herald.json'));
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.title).toBe('Herald');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list.map((v: any) => v.name)).toEqual(['datasource', 'instance']);

    const ids = new Set<number>();
    for (const p of dashboard.panels) {
      expect(p.gridPos, p.title).toMatchObject({
        h: expect.any(Number),
        w: expect.any(Number),
        x: expect.any(Number),
        y: expect.any(Number),
      });
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(ids.has(p.id), `duplicate panel id ${p.id}`).toBe(false);
      ids.add(p.id);
      if (p.type === 'row') continue;
      expect(['timeseries', 'stat'], p.title).toContain(p.type);
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const target of p.targets) expect(target.expr, p.title).toEqual(expect.any(String));
    }

    const names = new Set(expressions(dashboard).flatMap((e) => e.match(METRIC_NAME) ?? []));
    expect(names.size).toBeGreaterThan(15);
    const missing = [...names].filter((n) => !exported(m, n));
    expect(missing).toEqual([]);
    // The key families each have a panel.
    for (const family of [
      'herald_connections',
      'herald_events_published_total',
      'herald_events_delivered_total',
      'herald_publish_to_deliver_seconds_bucket',
      'herald_slow_consumers_total',
      'herald_resets_total',
      'herald_auth_failures_total',
      'herald_store_operation_seconds_bucket',
      'herald_broker_reconnects_total',
      'herald_backend_up',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(names, family).toContain(family);
    }
  });

  it('deploy/prometheus.yml scrapes /metrics of every node', () => {
    const yml = read('deploy/prometheus.yml');
    expect(yml).toMatch(/^scrape_configs:$/m);
    expect(yml).toMatch(/^ {2}- job_name: herald$/m);
    expect(yml).toMatch(/^ {4}metrics_path: \/metrics$/m);
    expect(yml).toContain("targets: ['herald1:8080', 'herald2:8080', 'herald3:8080']");
  });

  it('docs/operations.md documents every Herald metric with its type, and nothing else', () => {
    const doc = read('docs/operations.md');
    const rows = [...doc.matchAll(/^\| `(herald_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)];
    const documented = new Map(rows.map((r) => [r[1]!, r[2]!]));
    const actual = new Map([...m.types].filter(([name]) => name.startsWith('herald_')));
    expect([...documented.keys()].sort()).toEqual([...actual.keys()].sort());
    for (const [name, type] of actual) expect(documented.get(name), name).toBe(type);
  });
});
