import { describe, expect, it } from 'vitest';
import { createSSRApp, defineComponent, h } from 'vue';
import { renderToString } from 'vue/server-renderer';

/**
 * Server-side rendering in Node, where there is no window: importing the package touches
 * nothing of the browser, and rendering makes no client, opens no stream and fetches nothing.
 */
describe('@herald/vue on a server', () => {
  it('imports and renders without a window, a client or a request', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const { createHerald, useChannel, useHerald, useNotifications, useUnreadCount } =
      await import('../src/index.js');
    const requests: string[] = [];
    const plugin = createHerald({
      options: { channels: ['user:alice'] },
      url: 'http://127.0.0.1:1',
      fetch: (url: RequestInfo | URL) => {
        requests.push(typeof url === 'string' ? url : 'a request');
        return Promise.reject(new Error('no fetch on the server'));
      },
    });
    expect(plugin.client).toBeNull();
    const Page = defineComponent({
      setup() {
        const { state } = useHerald();
        useChannel('alerts', () => undefined);
        const inbox = useNotifications({ unread: true });
        const { unread } = useUnreadCount();
        return () =>
          h('p', [
            `${state.value.status} ${inbox.status.value} ${inbox.notifications.value.length}`,
            ` ${unread.value}`,
          ]);
      },
    });
    const html = await renderToString(createSSRApp(Page).use(plugin));
    expect(html).toBe('<p>disconnected loading 0 0</p>');
    expect(requests).toEqual([]);
  });

  it('says clearly when no plugin is installed', async () => {
    const { useHerald } = await import('../src/index.js');
    const Page = defineComponent({
      setup() {
        useHerald();
        return () => h('p');
      },
    });
    const app = createSSRApp(Page);
    let caught: unknown;
    app.config.errorHandler = (err) => (caught = err);
    await renderToString(app).catch((err: unknown) => (caught ??= err));
    expect(String(caught)).toContain('createHerald');
  });
});
