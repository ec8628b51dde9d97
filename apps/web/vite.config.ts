import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `npm run build` writes dist/, which Herald serves at / (views under /app/). `npx vite` in
// apps/web is a dev server with hot reload that proxies the API to a Herald on :8080.
const herald = process.env['HERALD_URL'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: {
    proxy: Object.fromEntries(
      [
        '/events',
        '/poll',
        '/publish',
        '/notify',
        '/broadcast',
        '/notifications',
        '/alerts',
        '/templates',
        '/admin',
        '/dev',
        '/auth',
        '/keys',
        '/push',
        '/delivery',
        '/metrics',
        '/healthz',
        '/readyz',
        '/streams',
        '/preferences',
      ].map((p) => [p, herald]),
    ),
  },
});
