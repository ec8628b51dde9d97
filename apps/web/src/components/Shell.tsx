import { useHerald, useUnreadCount } from '@herald/react';
import type { ReactNode } from 'react';
import { useDesktopNotifications } from '../lib/browser-notifications.js';
import { useSession } from '../lib/session-context.js';
import { Link, useRoute } from '../router.js';
import { Bell } from './Bell.js';
import { ConnectionStatus } from './ConnectionStatus.js';

export const NAV = [
  { to: '/inbox', label: 'Inbox' },
  { to: '/alerts', label: 'Event browser' },
  { to: '/demos/votes', label: 'Votes' },
  { to: '/demos/chat', label: 'Chat' },
  { to: '/demos/ai', label: 'AI answer' },
  { to: '/settings', label: 'Settings' },
] as const;

function isCurrent(path: string, to: string): boolean {
  return path === to || (to === '/inbox' && path === '/');
}

/** Codes with which the server refuses the credential itself: retrying cannot help. */
const SESSION_ENDED = new Set([
  'HERALD_ERR_UNAUTHENTICATED',
  'HERALD_ERR_TOKEN_INVALID',
  'HERALD_ERR_TOKEN_EXPIRED',
]);

/** Tells the user, in the page, when the stream refuses their session (expired, signed out). */
function SessionEnded({ signOut }: { signOut: () => void }) {
  const herald = useHerald();
  const code = herald.reason?.code;
  if (herald.status === 'connected' || !code || !SESSION_ENDED.has(code)) return null;
  return (
    <div className="error-box row" role="alert">
      <span style={{ flex: 1 }}>
        Your session ended: {herald.reason?.message} ({code}).
      </span>
      <button type="button" className="btn btn-small" onClick={signOut}>
        Sign in again
      </button>
    </div>
  );
}

/** The signed-in frame: brand, nav, connection status, desktop-notification opt-in, bell. */
export function Shell({ children }: { children: ReactNode }) {
  const { session, signOut } = useSession();
  const { path } = useRoute();
  const { summary } = useUnreadCount();
  const desktop = useDesktopNotifications();
  return (
    <div className="shell">
      <header className="header">
        <Link to="/inbox" className="brand" aria-label="Herald home">
          <span className="brand-mark" aria-hidden="true">
            H
          </span>
          Herald
        </Link>
        <nav className="nav" aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} aria-current={isCurrent(path, n.to) ? 'page' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="header-tools">
          <ConnectionStatus />
          {desktop.permission === 'default' ? (
            <button
              type="button"
              className="btn btn-small hide-phone"
              onClick={() => void desktop.request()}
              title="Show a desktop notification when this tab is in the background"
            >
              Enable desktop alerts
            </button>
          ) : null}
          <Bell
            count={summary?.unread ?? 0}
            noun="unread notifications"
            to="/inbox"
            testId="unread-bell"
          />
          <span className="user-chip" title={`Signed in as ${session.userId} (${session.mode})`}>
            {session.userId}
          </span>
          <button type="button" className="btn btn-small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main className="main" id="main">
        <SessionEnded signOut={signOut} />
        {children}
      </main>
    </div>
  );
}
