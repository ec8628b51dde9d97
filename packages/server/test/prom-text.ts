/** A sample of the Prometheus text format: metric name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface Exposition {
  readonly text: string;
  readonly samples: Sample[];
  /** Metric families declared with `# TYPE name type`. */
  readonly types: Map<string, string>;
  /** Sum of the samples of `name` whose labels include `labels` (0 when none). */
  value(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text exposition format (what `GET /metrics` answers). */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (name && type) types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return {
    text,
    samples,
    types,
    value(name, labels = {}) {
      let sum = 0;
      for (const s of samples) {
        if (s.name !== name) continue;
        if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
      }
      return sum;
    },
  };
}

/** GETs `${baseUrl}/metrics` and parses it. */
export async function scrape(baseUrl: string): Promise<Exposition> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}
