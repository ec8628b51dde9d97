/**
 * A small inline SVG chart of the last values (no chart library): a line with the area under
 * it, scaled to the largest value shown. `label` names it for screen readers.
 */
export function Sparkline({
  values,
  label,
  width = 160,
  height = 40,
  bars = false,
}: {
  values: readonly number[];
  label: string;
  width?: number;
  height?: number;
  /** Bars instead of a line (for counts per period). */
  bars?: boolean;
}) {
  const max = Math.max(1, ...values);
  const n = Math.max(values.length, 2);
  const x = (i: number) => (i / (n - 1)) * width;
  const y = (v: number) => height - 2 - (v / max) * (height - 4);
  const last = values.at(-1) ?? 0;
  return (
    <svg
      className="sparkline"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`${label}: latest ${formatNumber(last)}, peak ${formatNumber(Math.max(0, ...values))}`}
      preserveAspectRatio="none"
    >
      {bars ? (
        <line className="sparkline-base" x1={0} x2={width} y1={height - 1} y2={height - 1} />
      ) : null}
      {bars ? (
        values.map((v, i) => {
          const w = width / values.length;
          return (
            <rect
              key={i}
              x={i * w + w * 0.1}
              y={y(v)}
              width={w * 0.8}
              height={height - 2 - y(v)}
              className="sparkline-bar"
            />
          );
        })
      ) : values.length > 1 ? (
        <>
          <path
            className="sparkline-area"
            d={`M0,${height} ${values.map((v, i) => `L${x(i)},${y(v)}`).join(' ')} L${x(values.length - 1)},${height} Z`}
          />
          <polyline
            className="sparkline-line"
            points={values.map((v, i) => `${x(i)},${y(v)}`).join(' ')}
          />
        </>
      ) : null}
    </svg>
  );
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
