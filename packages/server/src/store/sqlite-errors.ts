/**
 * SQLITE_FULL, and the I/O errors a write on a full file system can end in. Its own file:
 * the WAL checkpoint thread needs it without loading the store.
 */
export function isDiskFullError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}
