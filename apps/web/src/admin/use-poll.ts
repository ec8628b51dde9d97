import { useEffect, useRef, useState } from 'react';
import { errorText } from './admin-api.js';

/**
 * Calls `load` now and every `intervalMs` while mounted (one call at a time; a slow answer
 * delays the next call instead of piling calls up). `onData` sees every answer.
 */
export function usePoll<T>(
  load: () => Promise<T>,
  intervalMs: number,
  onData?: (data: T) => void,
): { data: T | undefined; error: string | null; refresh(): void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  const onDataRef = useRef(onData);
  loadRef.current = load;
  onDataRef.current = onData;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const d = await loadRef.current();
        if (stopped) return;
        setData(d);
        setError(null);
        onDataRef.current?.(d);
      } catch (e) {
        if (!stopped) setError(errorText(e));
      }
      if (!stopped) timer = setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [intervalMs, tick]);
  return { data, error, refresh: () => setTick((t) => t + 1) };
}
