import { createElement as h, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

/**
 * Server-side rendering in Node, where there is no window: importing the package touches
 * nothing of the browser, and rendering makes no client, opens no stream and fetches nothing.
 */
describe('@herald/react on a server', () => {
  it('imports and renders without a window, a client or a request', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const r = await import('../src/index.js');
    const requests: string[] = [];
    const fetch = (url: RequestInfo | URL) => {
      requests.push(typeof url === 'string' ? url : 'a request');
      return Promise.reject(new Error('no fetch on the server'));
    };
    function Page(): ReactNode {
      const herald = r.useHerald();
      r.useChannel('alerts', () => undefined);
      const { events } = r.useEvents(['room:a']);
      const inbox = r.useNotifications({ unread: true });
      const { count } = r.useUnreadCount();
      const alerts = r.useAlertStream({ feed: 'alerts' });
      const text = r.useStreamingText('ai:s1');
      const votes = r.useVoteSSE('eve', () => undefined);
      return h(
        'p',
        null,
        [
          herald.status,
          herald.client === null ? 'null' : 'client',
          events.length,
          inbox.status,
          inbox.notifications.length,
          count,
          alerts.status,
          alerts.alerts.length,
          text.status,
          JSON.stringify(text.text),
          String(votes.isConnected),
        ].join(' '),
      );
    }
    const html = renderToString(
      h(r.HeraldProvider, { url: 'http://127.0.0.1:1', getToken: () => 'x', fetch }, h(Page)),
    );
    expect(html).toBe(
      '<p>disconnected null 0 loading 0 0 disconnected 0 idle &quot;&quot; false</p>',
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(requests).toEqual([]);
  });

  it('says clearly when no provider is above a hook', async () => {
    const { useHerald } = await import('../src/index.js');
    function Page(): ReactNode {
      useHerald();
      return null;
    }
    expect(() => renderToString(h(Page))).toThrow('HeraldProvider');
  });
});
