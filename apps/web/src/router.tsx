import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useState,
  type AnchorHTMLAttributes,
  type ReactNode,
} from 'react';

/** Every view lives under /app/ so no view can shadow an API path (the server's SPA fallback). */
export const BASE = '/app';

interface RouterValue {
  /** The path after /app, e.g. `/inbox` or `/demos/chat`; `/` for the home view. */
  path: string;
  navigate: (to: string) => void;
}

const RouterContext = createContext<RouterValue>({ path: '/', navigate: () => {} });

function currentPath(): string {
  const p = window.location.pathname;
  if (p === BASE || p === BASE + '/' || !p.startsWith(BASE + '/')) return '/';
  return p.slice(BASE.length);
}

/** A small history router: no dependency, and every view is a plain path. */
export function Router({ children }: { children: ReactNode }) {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const onPop = () => setPath(currentPath());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    window.history.pushState(null, '', BASE + to);
    setPath(to);
    window.scrollTo(0, 0);
  }, []);
  return <RouterContext.Provider value={{ path, navigate }}>{children}</RouterContext.Provider>;
}

export function useRoute(): RouterValue {
  return useContext(RouterContext);
}

/** An anchor that navigates inside the app (keeps middle-click and copy-link working). */
export function Link(
  props: { to: string; children: ReactNode } & Omit<
    AnchorHTMLAttributes<HTMLAnchorElement>,
    'href' | 'children'
  > & { 'data-testid'?: string | undefined; 'data-count'?: number },
) {
  const { navigate } = useRoute();
  const { to, onClick, ...rest } = props;
  return (
    <a
      {...rest}
      href={BASE + to}
      onClick={(e) => {
        onClick?.(e);
        if (e.defaultPrevented || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    />
  );
}
