import { createContext, useContext } from 'react';
import type { Session } from './session.js';

export interface SessionValue {
  readonly session: Session;
  /** True when the server runs in dev mode (demo producers, test alerts). */
  readonly dev: boolean;
  signOut: () => void;
}

export const SessionContext = createContext<SessionValue | null>(null);

/** The signed-in session; only used below the signed-in shell. */
export function useSession(): SessionValue {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside the signed-in app');
  return s;
}
