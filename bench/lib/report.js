import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { nginxVersion } from './targets.js';

/** "2-core x86_64 VM (AMD EPYC), 24 GiB": from /proc/cpuinfo and /proc/meminfo only. */
export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU';
  const vm = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo);
  const memGiB = Math.round(Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0) / 1024 / 1024);
  let nchan = 'unknown';
  try {
    nchan = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libnginx-mod-nchan'], {
      encoding: 'utf8',
    });
  } catch {
    /* not a Debian system */
  }
  return {
    description: `${cores}-core ${os.arch() === 'x64' ? 'x86_64' : os.arch()} ${vm ? 'VM' : 'machine'} (${model}), ${memGiB} GiB`,
    cores,
    cpu: model,
    memGiB,
    node: process.version,
    nginx: nginxVersion(),
    nchan,
  };
}

/** Commit and whether the server build may not match its sources (others edit them live). */
export function codeState(root) {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const newest = (dir) => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  let distStale = null;
  try {
    distStale =
      newest(join(root, 'packages/server/src')) >
      statSync(join(root, 'packages/server/dist/cli.js')).mtimeMs;
  } catch {
    /* no build */
  }
  return {
    commit: git('rev-parse', '--short', 'HEAD'),
    serverTreeDirty: git('status', '--porcelain', 'packages/server') !== '',
    distOlderThanSources: distStale,
  };
}

export function loadAverage() {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

const fmtNum = (x, digits = 0) =>
  x === null || x === undefined || Number.isNaN(x)
    ? 'n/a'
    : Number(x).toLocaleString('en-US', {
        maximumFractionDigits: digits,
        minimumFractionDigits: digits,
      });

const ratio = (a, b) => (a == null || b == null || !b ? 'n/a' : `${(a / b).toFixed(2)}x`);

/** The headline rows: metric, Herald, floor, nchan (numbers or null), target text and verdict. */
export function headline(results, p) {
  const h = results.herald ?? {};
  const f = results.floor ?? {};
  const n = results.nchan ?? {};
  const get = (r, path) => path.reduce((o, k) => (o == null ? null : o[k]), r);
  const rows = [];
  const row = (label, path, digits, target, verdict) => {
    rows.push({
      label,
      herald: get(h, path),
      floor: get(f, path),
      nchan: get(n, path),
      digits,
      target: target ?? '',
      verdict: verdict ?? '',
    });
  };
  const memH = get(h, ['users', 'memory', 'kibPerConnection']);
  const memF = get(f, ['users', 'memory', 'kibPerConnection']);
  row(
    `Memory per idle connection, ${p.usersN} streams on user channels (KiB)`,
    ['users', 'memory', 'kibPerConnection'],
    1,
    '<= 1.1x floor',
    memH != null && memF != null ? (memH <= 1.1 * memF ? 'met' : 'NOT met') : '',
  );
  row(
    `Memory per connection, ${p.fanoutN} streams on one channel (KiB)`,
    ['fanout', 'memory', 'kibPerConnection'],
    1,
  );
  row(
    `Connections opened per second (${p.usersN}, 500 in flight)`,
    ['users', 'memory', 'connectsPerSec'],
    0,
  );
  const fanH = get(h, ['fanout', 'capacity', 'deliveriesPerSec']);
  const fanN = get(n, ['fanout', 'capacity', 'deliveriesPerSec']);
  // The issue's target is at p99 <= 100 ms; a run with another limit (--set fanoutP99Ms=1000,
  // a sustained-throughput comparison) reports its figures but gives no verdict.
  const issueLimit = p.fanoutP99Ms === 100;
  row(
    `Fan-out capacity, ${p.fanoutN} subscribers, one channel (deliveries/s, p99 <= ${p.fanoutP99Ms} ms, 0 lost)`,
    ['fanout', 'capacity', 'deliveriesPerSec'],
    0,
    issueLimit ? '>= 2x nchan' : '(target is at p99 <= 100 ms)',
    issueLimit && fanH != null && fanN != null ? (fanH >= 2 * fanN ? 'met' : 'NOT met') : '',
  );
  row('  p99 at that rate (ms)', ['fanout', 'capacity', 'latencyMs', 'p99'], 1);
  row(
    '  server CPU at that rate, user+sys (% of a core)',
    ['fanout', 'capacity', 'serverCpuTotal'],
    0,
  );
  row('  of which kernel (% of a core)', ['fanout', 'capacity', 'serverCpu', 'sys'], 0);
  const fixedP99 = get(h, ['users', 'fixed', 'latencyMs', 'p99']);
  const fixedLost = get(h, ['users', 'fixed', 'lost']);
  row(
    `Targeted ${p.targetedRate}/s single-event publishes, ${p.usersN} user channels: p50 (ms)`,
    ['users', 'fixed', 'latencyMs', 'p50'],
    2,
  );
  row(
    '  p99 publish-to-deliver (ms)',
    ['users', 'fixed', 'latencyMs', 'p99'],
    2,
    '<= 5 ms, 0 lost',
    fixedP99 != null ? (fixedP99 <= 5 && fixedLost === 0 ? 'met' : 'NOT met') : '',
  );
  row('  lost', ['users', 'fixed', 'lost'], 0);
  const capH = get(h, ['users', 'capacity', 'eventsPerSec']);
  // The durable target's verdict comes from the step that holds its rate (`sustained`); a run
  // without that step (--set sustainedSeconds=0) judges by the ramp's highest passing step.
  const sustained = get(h, ['users', 'sustained']);
  row(
    `Targeted capacity, batches of ${p.batch} (events/s, p99 <= 50 ms, 0 lost; durable on Herald)`,
    ['users', 'capacity', 'eventsPerSec'],
    0,
    sustained ? '' : '>= 20,000/s',
    sustained || capH == null ? '' : capH >= 20_000 ? 'met' : 'NOT met',
  );
  row('  p99 at that rate (ms)', ['users', 'capacity', 'latencyMs', 'p99'], 1);
  if (sustained || get(f, ['users', 'sustained']) || get(n, ['users', 'sustained'])) {
    const rate = sustained?.eventsPerSec ?? p.sustainedRate;
    row(
      `Targeted ${rate.toLocaleString('en-US')} events/s held for ${p.sustainedSeconds} s, batches of ${p.batch} (durable on Herald): deliveries/s`,
      ['users', 'sustained', 'deliveriesPerSec'],
      0,
      '>= 20,000/s, p99 <= 50 ms, 0 lost',
      sustained ? (sustained.pass && rate >= 20_000 ? 'met' : 'NOT met') : '',
    );
    row('  p99 publish-to-deliver (ms)', ['users', 'sustained', 'latencyMs', 'p99'], 1);
    row('  max (ms)', ['users', 'sustained', 'latencyMs', 'max'], 1);
    row('  lost', ['users', 'sustained', 'lost'], 0);
    row('  server CPU, user+sys (% of a core)', ['users', 'sustained', 'serverCpuTotal'], 0);
  }
  const ib = h.inbox;
  if (ib || f.inbox || n.inbox) {
    const fixed = ib?.fixed;
    const fixedCpu = fixed ? fixed.serverCpu.user + fixed.serverCpu.sys : null;
    row(
      `POST /notify at 2,000/s, one notification a request, ${p.inboxPublishers} publishers, ${p.usersN} users: p99 (ms; peers: a publish)`,
      ['inbox', 'fixed', 'latencyMs', 'p99'],
      2,
      '<= 5 ms, <= 25 % of a core, 0 lost',
      fixed ? (fixed.pass && fixedCpu <= 25 ? 'met' : 'NOT met') : '',
    );
    row('  server CPU, user+sys (% of a core)', ['inbox', 'fixed', 'serverCpuTotal'], 0);
    const notify = ib?.notify?.best;
    row(
      `POST /notify capacity, ${p.inboxPublishers} publishers (req/s, p99 <= 20 ms, 0 lost)`,
      ['inbox', 'notify', 'best', 'achievedRequestRate'],
      0,
      '>= 12,000/s',
      ib ? (notify && notify.requestRate >= 12_000 ? 'met' : 'NOT met') : '',
    );
    row('  p99 at that rate (ms)', ['inbox', 'notify', 'best', 'latencyMs', 'p99'], 1);
    row(
      '/broadcast to 10,000 listed users, 2 requests/s: p99 to the connected ones (ms)',
      ['inbox', 'broadcast', 'latencyMs', 'p99'],
      1,
    );
    const singles = ib?.singles?.best;
    row(
      `Single-event /publish capacity, ${p.inboxPublishers} publishers (events/s, p99 <= 20 ms, 0 lost)`,
      ['inbox', 'singles', 'best', 'achievedRequestRate'],
      0,
      '>= 20,000/s (batches: row above)',
      ib ? (singles && singles.requestRate >= 20_000 ? 'met' : 'NOT met') : '',
    );
    row('  p99 at that rate (ms)', ['inbox', 'singles', 'best', 'latencyMs', 'p99'], 1);
  }
  if (h.alerts || f.alerts || n.alerts) {
    const best = h.alerts?.best;
    row(
      `Alerts: POST /notifications to a feed with ${p.alertsN} alert streams (req/s, p99 <= 20 ms, 0 lost; peers: a publish)`,
      ['alerts', 'best', 'achievedRequestRate'],
      0,
      '>= 12,000/s (seed 003 claims 10,000/s)',
      h.alerts ? (best && best.requestRate >= 12_000 ? 'met' : 'NOT met') : '',
    );
    row('  p99 at that rate (ms)', ['alerts', 'best', 'latencyMs', 'p99'], 1);
  }
  if (h.storm || n.storm) {
    const st = h.storm ?? n.storm;
    const stormH = get(h, ['storm', 'allResumedSeconds']);
    const stormN = get(n, ['storm', 'allResumedSeconds']);
    row(
      `Reconnect storm: ${st.clients} clients x ${st.missingPerClient} missed events${h.storm?.restarted ? ' (Herald restarted first)' : ''}: all resumed (s)`,
      ['storm', 'allResumedSeconds'],
      2,
      'all resumed, 0 lost or repeated; Herald <= nchan',
      h.storm && n.storm
        ? h.storm.pass && n.storm.pass && stormH != null && stormN != null && stormH <= stormN
          ? 'met'
          : 'NOT met'
        : '',
    );
    row('  lost', ['storm', 'lost'], 0);
    row('  duplicates', ['storm', 'duplicates'], 0);
    row('  server CPU per resume (ms)', ['storm', 'serverCpuMsPerResume'], 3);
    row('  server runnable but waiting for a CPU (% of the storm)', ['storm', 'serverWaiting'], 0);
  }
  if (h.hold) {
    row(
      `Connections held by one server process (of ${h.hold.attempted} attempted)`,
      ['hold', 'held'],
      0,
      '20,000',
      // The issue sets the limit at 20,000 descriptors and asks what limits first: when every
      // descriptor is in use, the rest are the process's own (listening socket, SQLite, ...).
      h.hold.held >= 20_000
        ? 'met'
        : h.hold.serverFds >= h.hold.serverFdLimit
          ? `descriptor limit first (${h.hold.serverFds} of ${h.hold.serverFdLimit} in use)`
          : 'NOT met',
    );
  }
  const c = h.cluster;
  if (c && !c.error) {
    const floor = 'all nodes on one core: a floor';
    row(
      `Cluster, ${c.nodes} nodes + Redis + PostgreSQL (${floor}): targeted ${c.durable ? 'durable' : 'ephemeral'} capacity, ${c.targeted.subscribers} user channels, batches of ${c.targeted.batch} (events/s, p99 <= 100 ms, 0 lost)`,
      ['cluster', 'targeted', 'capacity', 'eventsPerSec'],
      0,
      'seed 003: 5,000/s with Redis, < 100 ms',
      c.seedClaim.met ? 'met' : 'NOT met',
    );
    row('  p50 at that rate (ms)', ['cluster', 'targeted', 'capacity', 'latencyMs', 'p50'], 1);
    row('  p99 at that rate (ms)', ['cluster', 'targeted', 'capacity', 'latencyMs', 'p99'], 1);
    row(
      '  nodes CPU at that rate, sum of the nodes (% of one core)',
      ['cluster', 'targeted', 'capacity', 'nodesCpuTotal'],
      0,
    );
    row(
      '  redis-server CPU (% of a core)',
      ['cluster', 'targeted', 'capacity', 'backendCpu', 'redis'],
      0,
    );
    row(
      '  PostgreSQL backends of the nodes, CPU (% of a core)',
      ['cluster', 'targeted', 'capacity', 'backendCpu', 'postgres'],
      0,
    );
    const at = c.seedClaim.atClaimRate;
    if (at)
      row(
        '  at the claimed 5,000 events/s: p99 (ms)',
        ['cluster', 'seedClaim', 'atClaimRate', 'latencyMs', 'p99'],
        1,
        '< 100 ms, 0 lost',
        at.pass
          ? 'met'
          : `NOT met (${
              [
                at.latencyMs.p99 > 100 ? 'p99' : '',
                at.lost ? `lost ${at.lost}` : '',
                at.duplicates ? `dup ${at.duplicates}` : '',
              ]
                .filter(Boolean)
                .join(', ') || 'rate'
            })`,
      );
    row(
      `Cluster fan-out capacity, ${c.fanout.subscribers} subscribers of one channel over ${c.nodes} nodes (deliveries/s, p99 <= 100 ms, 0 lost)`,
      ['cluster', 'fanout', 'capacity', 'deliveriesPerSec'],
      0,
    );
    row('  p99 at that rate (ms)', ['cluster', 'fanout', 'capacity', 'latencyMs', 'p99'], 1);
  }
  return rows;
}

/** Plain-text table for the console. */
export function consoleTable(rows) {
  const head = [
    'metric',
    'Herald',
    'Node floor',
    'nginx+nchan',
    'H/floor',
    'H/nchan',
    'target',
    'verdict',
  ];
  const body = rows.map((r) => [
    r.label,
    fmtNum(r.herald, r.digits),
    fmtNum(r.floor, r.digits),
    fmtNum(r.nchan, r.digits),
    ratio(r.herald, r.floor),
    ratio(r.herald, r.nchan),
    r.target,
    r.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Markdown table of the same rows. */
export function markdownTable(rows) {
  const out = [
    '| metric | Herald | Node floor | nginx+nchan | Herald/floor | Herald/nchan | target | verdict |',
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.label} | ${fmtNum(r.herald, r.digits)} | ${fmtNum(r.floor, r.digits)} | ${fmtNum(r.nchan, r.digits)} | ` +
        `${ratio(r.herald, r.floor)} | ${ratio(r.herald, r.nchan)} | ${r.target} | ${r.verdict} |`,
    );
  }
  return out.join('\n');
}

/** The cluster scenario's section of the results .md: topology, both ramps, CPU per process. */
export function clusterMarkdown(c) {
  const t = c.topology;
  const cpuTable = (steps, unit) => {
    const names = Object.keys(steps.find((s) => s.backendCpu)?.backendCpu ?? {});
    const out = [
      `| ${unit} | ${Array.from({ length: c.nodes }, (_, i) => `node ${i + 1} CPU % (waiting)`).join(' | ')} | ${names.map((n) => `${n} CPU %`).join(' | ')} | generator CPU % | other load, cores |`,
      `|---:|${'---:|'.repeat(c.nodes + names.length + 2)}`,
    ];
    for (const s of steps) {
      const nodes = (s.nodes ?? []).map((n) => `${n.cpu} (${n.waitPct})`);
      out.push(
        `| ${fmtNum(s.eventsPerSec)} | ${nodes.join(' | ')} | ${names.map((n) => s.backendCpu?.[n] ?? 'n/a').join(' | ')} | ${s.generatorCpu} | ${s.othersCores} |`,
      );
    }
    return out.join('\n');
  };
  const claim = c.seedClaim;
  const at = claim.atClaimRate;
  return [
    `## herald: cluster, ${c.nodes} nodes + Redis + PostgreSQL`,
    '',
    `- Nodes: ${c.nodes} \`herald serve\` processes, ${c.durable ? 'durable events (PostgreSQL)' : 'ephemeral events'}, JWT auth, default limits (counted in Redis).`,
    `- Store: ${t.store}.`,
    `- Broker: ${t.broker}.`,
    `- Routing: ${t.routing}; every event, even one for a subscriber of the node that took it, goes through Redis.`,
    `- Pinning: ${t.pinning}. **All nodes share one core, so these figures are a floor for the software on this machine, not the capacity of a 3-node cluster.**`,
    '',
    `Seed 003 claim (${claim.text}): Herald's cluster sustained **${fmtNum(claim.heraldEventsPerSec)} events/s** ` +
      `(p99 <= 100 ms, nothing lost): ${claim.met ? 'met' : 'not met'} here.` +
      (at
        ? ` At exactly 5,000 events/s: p50 ${at.latencyMs.p50} ms, p99 ${at.latencyMs.p99} ms, lost ${at.lost}, duplicates ${at.duplicates} (${at.pass ? 'pass' : 'fail'}).`
        : ''),
    '',
    `### Targeted, ${c.targeted.subscribers} user channels (${c.targeted.subscribers / c.nodes} per node), batches of ${c.targeted.batch}`,
    '',
    `Streams opened at ${fmtNum(c.targeted.memory.connectsPerSec)}/s (all nodes together); node RSS grew ${fmtNum(c.targeted.memory.kibPerConnection, 1)} KiB per stream, heap growth of the connect burst included (not an idle-memory figure).`,
    '',
    stepsTable(c.targeted.steps, 'events/s'),
    '',
    'CPU per process (% of one core; "waiting": share of the step the node was ready to run but had no CPU, behind the other nodes and Redis on core 0 or other work there):',
    '',
    cpuTable(c.targeted.steps, 'events/s'),
    '',
    `### Fan-out, ${c.fanout.subscribers} subscribers of one channel (${c.fanout.subscribers / c.nodes} per node)`,
    '',
    stepsTable(c.fanout.steps, 'msg/s'),
    '',
    cpuTable(c.fanout.steps, 'msg/s'),
    '',
  ].join('\n');
}

/** Markdown table of every ramp step of one scenario. */
export function stepsTable(steps, unit) {
  const out = [
    `| ${unit} | req/s (achieved) | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | lost | dup | server CPU user+sys % (waiting) | generator CPU % (waiting) | reader CPU % | other load, cores | result |`,
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const s of steps) {
    out.push(
      `| ${fmtNum(s.eventsPerSec)} | ${fmtNum(s.achievedRequestRate, 1)} | ${fmtNum(s.deliveriesPerSec)} | ` +
        `${s.latencyMs.p50} | ${s.latencyMs.p90} | ${s.latencyMs.p99} | ${s.latencyMs.max} | ${s.lost} | ${s.duplicates} | ` +
        `${s.serverCpu.user}+${s.serverCpu.sys} (${s.serverWaitPct}) | ${s.generatorCpu} (${s.generatorWaitPct}) | ` +
        `${s.readerCpu ?? 'in generator'} | ${s.othersCores} | ${s.pass ? 'pass' : 'fail'}${s.readerBound ? ', reader-bound' : s.generatorCpu >= 90 ? ', generator-bound' : ''}${s.attempt > 1 ? `, attempt ${s.attempt}` : ''} |`,
    );
  }
  return out.join('\n');
}

/**
 * `--herald-workers 1,2`: the fan-out and targeted figures of each Herald run, side by side.
 * Server CPU is the primary's and every worker's together; "per 1,000 deliveries" divides it
 * by what was delivered, the figure that a loaded machine (whose steps fail on latency) still
 * compares fairly.
 */
export function workersTable(results, keys, workers) {
  const get = (r, path) => path.reduce((o, k) => (o == null ? null : o[k]), r);
  const cpuOf = (step) => (step?.serverCpu ? step.serverCpu.user + step.serverCpu.sys : null);
  const perThousand = (step) =>
    step?.deliveriesPerSec ? (cpuOf(step) * 10_000) / step.deliveriesPerSec : null;
  /** Rows of one step: its rate, p99, CPU and CPU per 1,000 deliveries, and what was lost. */
  const stepRows = (label, pick) => [
    [`${label}: deliveries/s`, (r) => pick(r)?.deliveriesPerSec, 0],
    ['  p99 (ms)', (r) => pick(r)?.latencyMs?.p99, 1],
    ['  server CPU (% of a core)', (r) => cpuOf(pick(r)), 0],
    ['  server CPU per 1,000 deliveries (ms)', (r) => perThousand(pick(r)), 1],
    ['  lost / duplicates', (r) => pick(r) && `${pick(r).lost} / ${pick(r).duplicates ?? 0}`],
  ];
  const metrics = [
    [
      'Fan-out capacity (deliveries/s, p99 limit met)',
      (r) => get(r, ['fanout', 'capacity', 'deliveriesPerSec']),
      0,
    ],
    ...stepRows('Fan-out, first step', (r) => get(r, ['fanout', 'steps', 0])),
    ...stepRows('Targeted fixed rate', (r) => get(r, ['users', 'fixed'])),
    ...stepRows('Targeted sustained', (r) => get(r, ['users', 'sustained'])),
  ];
  const head = ['metric', ...workers.map((n) => `${n} worker${n > 1 ? 's' : ''}`)];
  const body = metrics.map(([label, read, digits]) => [
    label,
    ...keys.map((k) => {
      const v = read(results[k] ?? {});
      return typeof v === 'string' ? v : fmtNum(v ?? null, digits);
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
