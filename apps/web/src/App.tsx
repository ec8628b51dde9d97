import { Router, useRoute } from './router.js';
import { AdminApp } from './admin/AdminApp.js';
import { UserApp } from './UserApp.js';

/**
 * Two apps behind one router: /app/admin/* is the admin dashboard with its own sign-in
 * (admin token or key, src/admin/), everything else is the user's app (src/UserApp.tsx).
 */
function Views() {
  const { path } = useRoute();
  return path === '/admin' || path.startsWith('/admin/') ? <AdminApp /> : <UserApp />;
}

export function App() {
  return (
    <Router>
      <Views />
    </Router>
  );
}
