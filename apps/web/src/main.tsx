import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { registerServiceWorker } from './push/service-worker.js';
import './styles.css';

if (window.location.pathname === '/') window.history.replaceState(null, '', '/app/');

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

// Push notifications and the offline copy of the app and the inbox (public/sw.js).
void registerServiceWorker();
