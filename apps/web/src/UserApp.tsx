import { HeraldApi } from '@herald/client/inbox';
import { HeraldProvider } from '@herald/react';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { LiveNotices } from './components/LiveNotices.js';
import { Shell } from './components/Shell.js';
import { SignIn } from './components/SignIn.js';
import { ToastProvider } from './components/Toasts.js';
import { SessionContext } from './lib/session-context.js';
import { loadSession, rememberCookieUser, saveSession, type Session } from './lib/session.js';
import { AlertsPage } from './pages/AlertsPage.js';
import { AiDemo } from './pages/AiDemo.js';
import { ChatDemo } from './pages/ChatDemo.js';
import { InboxPage } from './pages/InboxPage.js';
import { forgetOfflineNotifications } from './push/offline-inbox.js';
import { SettingsPage } from './pages/SettingsPage.js';
import { VotesDemo } from './pages/VotesDemo.js';
import { useRoute } from './router.js';

const VIEWS: Record<string, () => React.JSX.Element> = {
  '/': InboxPage,
  '/inbox': InboxPage,
  '/alerts': AlertsPage,
  '/demos/votes': VotesDemo,
  '/demos/chat': ChatDemo,
  '/demos/ai': AiDemo,
  '/settings': SettingsPage,
};

function NotFound() {
  return (
    <div className="card pad">
      <h1>Not found</h1>
      <p className="muted">There is no view at this address.</p>
    </div>
  );
}

/** Asks the server once whether it runs in dev mode (which sign-in to offer). */
function useDevMode(): boolean | null {
  const [dev, setDev] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    new HeraldApi()
      .get<{ dev: boolean }>('/dev/mode')
      .then((r) => live && setDev(r.dev))
      .catch(() => live && setDev(false));
    return () => {
      live = false;
    };
  }, []);
  return dev;
}

/**
 * The user's app: sign-in, then one HeraldProvider (one client for every view) around the
 * shell. Signing in as someone else mounts a fresh provider, so nothing of the previous
 * user's stream or inbox survives.
 */
export function UserApp() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const dev = useDevMode();
  const { path } = useRoute();

  const signIn = useCallback((s: Session) => {
    saveSession(s);
    setSession(s);
  }, []);
  const signOut = useCallback(() => {
    const s = session;
    saveSession(null);
    setSession(null);
    // The next user of this browser must not see this one's kept notifications.
    void forgetOfflineNotifications();
    if (s?.mode === 'cookie') {
      rememberCookieUser(null);
      void new HeraldApi().post('/auth/logout').catch(() => undefined);
    }
  }, [session]);

  const token = session?.token ?? null;
  const getToken = useCallback(() => token, [token]);
  const channels = useMemo(
    () => (session ? [`user:${session.userId}`, 'broadcast'] : []),
    [session],
  );
  const value = useMemo(
    () => (session ? { session, dev: dev === true, signOut } : null),
    [session, dev, signOut],
  );

  if (!session || !value) {
    if (dev === null) return <main className="signin" aria-busy="true" />;
    return <SignIn dev={dev} onSignedIn={signIn} />;
  }
  const View = VIEWS[path] ?? NotFound;
  return (
    <SessionContext.Provider value={value}>
      <HeraldProvider
        key={`${session.mode}:${session.userId}`}
        getToken={getToken}
        channels={channels}
      >
        <ToastProvider>
          <LiveNotices userId={session.userId} />
          <Shell>
            <View />
          </Shell>
        </ToastProvider>
      </HeraldProvider>
    </SessionContext.Provider>
  );
}
