/** What an action came to: its text as a status line when it worked, as an alert when not. */
export interface Outcome {
  ok: boolean;
  text: string;
}

/** The line of an action's outcome (nothing before the first). */
export function StatusLine({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return null;
  return (
    <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'admin-ok' : 'admin-error'}>
      {outcome.text}
    </p>
  );
}

/**
 * The alert of a failed call (a poll's or an action's error; nothing while there is none).
 * `stale`: the view still shows a poll's last answer, so the line says the update failed.
 */
export function ErrorLine({ error, stale = false }: { error: string | null; stale?: boolean }) {
  if (!error) return null;
  return (
    <p role="alert" className="admin-error">
      {stale ? `Last update failed: ${error}` : error}
    </p>
  );
}
