// The run's plot: p99 latency against offered rate, one panel per scenario, one line per
// server, drawn as SVG by hand (no dependency), from the results object the bench saves.

const COLORS = { herald: '#1f77b4', floor: '#7f7f7f', nchan: '#d62728' };
const LABELS = { herald: 'Herald', floor: 'Node floor', nchan: 'nginx+nchan' };

/** The ramps of a target's results, by panel: [title, bound ms, steps]. */
function panels(r) {
  const out = [];
  if (r.fanout?.steps) out.push(['fan-out: deliveries/s', 100, r.fanout.steps, 'deliveries']);
  if (r.users?.steps) out.push(['targeted, batches: events/s', 50, r.users.steps, 'events']);
  if (r.inbox?.notify?.steps)
    out.push(['POST /notify, 64 publishers: req/s', 20, r.inbox.notify.steps, 'requests']);
  if (r.inbox?.singles?.steps)
    out.push(['single-event /publish: req/s', 20, r.inbox.singles.steps, 'requests']);
  if (r.alerts?.steps)
    out.push(['alerts (POST /notifications): req/s', 20, r.alerts.steps, 'requests']);
  return out;
}

/** Offered rate of a step on the panel's axis. */
function offered(s, unit) {
  if (unit === 'deliveries')
    return (
      (s.requestRate ?? 0) * ((s.expected ?? 0) / Math.max(1, s.published || 1)) ||
      s.deliveriesPerSec
    );
  if (unit === 'events') return s.eventsPerSec ?? s.requestRate;
  return s.requestRate;
}

const esc = (t) =>
  String(t).replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]);

/**
 * One SVG: a panel per scenario that any target ran, x = offered rate (log), y = p99 ms
 * (log), the panel's bound as a dashed line; a failed step is a hollow marker.
 */
export function latencyPlot(results, title) {
  const byPanel = new Map();
  for (const [name, r] of Object.entries(results)) {
    for (const [label, bound, steps, unit] of panels(r ?? {})) {
      if (!byPanel.has(label)) byPanel.set(label, { bound, unit, lines: [] });
      const pts = steps
        .filter((s) => s.latencyMs && Number.isFinite(s.latencyMs.p99))
        .map((s) => ({ x: offered(s, unit), y: Math.max(0.1, s.latencyMs.p99), pass: s.pass }))
        .filter((p) => p.x > 0)
        .sort((a, b) => a.x - b.x);
      if (pts.length > 0) byPanel.get(label).lines.push({ name, pts });
    }
  }
  const W = 420;
  const H = 280;
  const M = { l: 56, r: 16, t: 28, b: 40 };
  const cols = 2;
  const entries = [...byPanel];
  const rows = Math.max(1, Math.ceil(entries.length / cols));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${rows * H + 40}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="18" font-size="13">${esc(title)}</text>`,
  ];
  entries.forEach(([label, panel], k) => {
    const ox = (k % cols) * W;
    const oy = 30 + Math.floor(k / cols) * H;
    const all = panel.lines.flatMap((l) => l.pts);
    const xs = all.map((p) => p.x);
    const ys = [...all.map((p) => p.y), panel.bound];
    const lx = [Math.log10(Math.min(...xs)), Math.log10(Math.max(...xs))];
    const ly = [Math.log10(Math.min(...ys)), Math.log10(Math.max(...ys))];
    if (lx[1] - lx[0] < 0.1) lx[1] = lx[0] + 0.1;
    if (ly[1] - ly[0] < 0.1) ly[1] = ly[0] + 0.1;
    const px = (x) => ox + M.l + ((Math.log10(x) - lx[0]) / (lx[1] - lx[0])) * (W - M.l - M.r);
    const py = (y) => oy + H - M.b - ((Math.log10(y) - ly[0]) / (ly[1] - ly[0])) * (H - M.t - M.b);
    out.push(
      `<text x="${ox + M.l}" y="${oy + 16}" font-size="12">${esc(label)} (p99 bound ${panel.bound} ms)</text>`,
      `<rect x="${ox + M.l}" y="${oy + M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#ccc"/>`,
      `<line x1="${ox + M.l}" x2="${ox + W - M.r}" y1="${py(panel.bound)}" y2="${py(panel.bound)}" stroke="#999" stroke-dasharray="4 3"/>`,
    );
    for (let e = Math.ceil(ly[0]); e <= Math.floor(ly[1]); e++) {
      out.push(
        `<text x="${ox + M.l - 4}" y="${py(10 ** e) + 4}" text-anchor="end">${10 ** e} ms</text>`,
      );
    }
    for (let e = Math.ceil(lx[0]); e <= Math.floor(lx[1]); e++) {
      out.push(
        `<text x="${px(10 ** e)}" y="${oy + H - M.b + 14}" text-anchor="middle">${(10 ** e).toLocaleString('en-US')}</text>`,
      );
    }
    out.push(
      `<text x="${ox + W / 2}" y="${oy + H - 8}" text-anchor="middle">offered rate (${panel.unit}/s, log)</text>`,
    );
    panel.lines.forEach((line, j) => {
      const color = COLORS[line.name] ?? '#2ca02c';
      const d = line.pts
        .map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`)
        .join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      for (const p of line.pts) {
        out.push(
          `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" stroke="${color}" fill="${p.pass ? color : 'white'}"/>`,
        );
      }
      out.push(
        `<text x="${ox + M.l + 8}" y="${oy + M.t + 14 + 13 * j}" fill="${color}">${esc(LABELS[line.name] ?? line.name)}</text>`,
      );
    });
  });
  out.push(
    `<text x="8" y="${rows * H + 34}" fill="#555">filled: step passed (p99 within the bound, nothing lost, rate kept); hollow: failed</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}
