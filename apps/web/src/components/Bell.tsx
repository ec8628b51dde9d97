import { useEffect, useState } from 'react';
import { Link } from '../router.js';

function BellIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
      <path d="M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
      <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
    </svg>
  );
}

/**
 * A bell with a count badge. `pulseKey` changing (a new event's time) makes it pulse once;
 * the accessible name says the count ("3 unread notifications").
 */
export function Bell(props: {
  count: number;
  noun: string;
  to: string;
  pulseKey?: number | null;
  testId?: string;
}) {
  const { count, noun, to, pulseKey, testId } = props;
  const [pulse, setPulse] = useState(false);
  useEffect(() => {
    if (!pulseKey) return;
    setPulse(true);
    const t = setTimeout(() => setPulse(false), 2400);
    return () => clearTimeout(t);
  }, [pulseKey]);
  const shown = count > 99 ? '99+' : String(count);
  return (
    <Link
      to={to}
      className={pulse ? 'bell pulse' : 'bell'}
      aria-label={`${count} ${noun}`}
      data-testid={testId}
      data-count={count}
    >
      <BellIcon />
      {count > 0 ? (
        <span className="badge" aria-hidden="true">
          {shown}
        </span>
      ) : null}
    </Link>
  );
}
