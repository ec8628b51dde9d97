const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "5 minutes ago", "yesterday"; "just now" under a minute. */
export function timeAgo(iso: string | number, now = Date.now()): string {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  const diff = t - now;
  for (const [unit, ms] of units) {
    if (Math.abs(diff) >= ms) return rtf.format(Math.round(diff / ms), unit);
  }
  return 'just now';
}

/** A full local date and time, for titles and the detail panel. */
export function fullTime(iso: string | number): string {
  return new Date(iso).toLocaleString();
}

/** The short clock time of a row in the event grid. */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
}

/** Time filters of the inbox and the event browser: a label and how far back. */
export const TIME_RANGES = [
  { value: 'any', label: 'Any time', ms: null },
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'Last hour', ms: 3_600_000 },
  { value: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
] as const;

export type TimeRange = (typeof TIME_RANGES)[number]['value'];

export function rangeMs(range: TimeRange): number | null {
  return TIME_RANGES.find((r) => r.value === range)?.ms ?? null;
}
