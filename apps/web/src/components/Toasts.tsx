import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type ReactNode,
} from 'react';

export interface Toast {
  /** Same id: the toast is updated in place (a job's progress). */
  readonly id: string;
  readonly title: string;
  readonly body?: string;
  readonly priority?: string;
  /** 0-100 shows a progress bar; the toast stays until it reaches 100. */
  readonly progress?: number;
  readonly href?: string;
}

interface ToastApi {
  show(t: Toast): void;
  dismiss(id: string): void;
}

const ToastContext = createContext<ToastApi>({ show: () => {}, dismiss: () => {} });

export function useToasts(): ToastApi {
  return useContext(ToastContext);
}

/** How long a finished toast stays. */
const TOAST_MS = 6000;
/** Most toasts on screen; the oldest go first. */
const MAX_TOASTS = 4;

function ToastCard({ toast, dismiss }: { toast: Toast; dismiss: (id: string) => void }) {
  const done = toast.progress === undefined || toast.progress >= 100;
  useEffect(() => {
    if (!done) return;
    const t = setTimeout(() => dismiss(toast.id), TOAST_MS);
    return () => clearTimeout(t);
  }, [done, dismiss, toast.id]);
  return (
    <div className="toast card" data-testid="toast" data-priority={toast.priority} role="status">
      <div className="toast-head">
        <span className="toast-title">{toast.title}</span>
        <button
          type="button"
          className="btn btn-ghost btn-small"
          aria-label={`Dismiss ${toast.title}`}
          onClick={() => dismiss(toast.id)}
        >
          ✕
        </button>
      </div>
      {toast.body ? <p className="toast-body">{toast.body}</p> : null}
      {toast.progress !== undefined ? (
        <div
          className="progress"
          role="progressbar"
          aria-label={`${toast.title} progress`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(toast.progress)}
        >
          <span style={{ width: `${Math.max(0, Math.min(100, toast.progress))}%` }} />
        </div>
      ) : null}
    </div>
  );
}

/** Toasts in the corner, newest last; `show` with an existing id updates that toast. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const dismiss = useCallback((id: string) => setToasts((l) => l.filter((t) => t.id !== id)), []);
  const show = useCallback((t: Toast) => {
    setToasts((l) => {
      const i = l.findIndex((x) => x.id === t.id);
      if (i >= 0) return l.map((x) => (x.id === t.id ? { ...x, ...t } : x));
      return [...l, t].slice(-MAX_TOASTS);
    });
  }, []);
  const api = useMemo(() => ({ show, dismiss }), [show, dismiss]);
  return (
    <ToastContext.Provider value={api}>
      {children}
      <section className="toasts" aria-label="Notifications" aria-live="polite">
        {toasts.map((t) => (
          <ToastCard key={t.id} toast={t} dismiss={dismiss} />
        ))}
      </section>
    </ToastContext.Provider>
  );
}
