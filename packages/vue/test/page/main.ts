/**
 * The test page: one Vue app with the Herald plugin, whose widgets (each a component using
 * the composables) the test shows and hides through `window.harness`. The client's `on` and
 * `subscribe` are counted, so a test can see every registration return to zero.
 */
import type { Herald, HeraldEvent } from '@herald/client';
import { createApp, defineComponent, h, reactive, ref, type App } from 'vue';
import {
  createHerald,
  provideHerald,
  useChannel,
  useHerald,
  useNotifications,
  useUnreadCount,
} from '../../src/index.js';
import { countRegistrations } from '../../../client/test/count-registrations.js';

interface Counts {
  on: number;
  subscriptions: number;
  channels: readonly string[];
  state: string;
}

const shown = reactive({ status: false, channel: false, keeper: false, inbox: false });
const channelName = ref<string | null>('room:a');
/** Every event each widget received, as `channel:text`. */
const received = reactive({ channel: [] as string[], keeper: [] as string[] });

const Status = defineComponent({
  setup() {
    const { state } = useHerald();
    return () =>
      h('p', { 'data-testid': 'status', 'data-status': state.value.status }, [
        state.value.status,
        state.value.status === 'connected' ? ` over ${state.value.transport}` : '',
        ` [${state.value.channels.join(',')}]`,
      ]);
  },
});

const log = (into: string[]) => (e: HeraldEvent) => into.push(`${e.channel}:${e.text}`);

const Channel = defineComponent({
  setup() {
    const { status } = useChannel(channelName, log(received.channel));
    return () =>
      h('ul', { 'data-testid': 'channel-log', 'data-status': status.value }, [
        ...received.channel.map((line) => h('li', line)),
      ]);
  },
});

const Keeper = defineComponent({
  setup() {
    useChannel('keep', log(received.keeper));
    return () => h('p', { 'data-testid': 'keeper' }, received.keeper.length);
  },
});

const Inbox = defineComponent({
  setup() {
    const inbox = useNotifications({}, { limit: 2 });
    const unreadOnly = useNotifications(() => ({ unread: true }));
    const { unread, status: countStatus } = useUnreadCount();
    return () =>
      h('section', [
        h('p', { 'data-testid': 'unread', 'data-status': countStatus.value }, unread.value),
        h(
          'ul',
          { 'data-testid': 'inbox', 'data-status': inbox.status.value },
          inbox.notifications.value.map((n) =>
            h('li', { 'data-id': n.id, 'data-read': String(n.read) }, [
              n.title,
              h('button', { onClick: () => void inbox.markRead(n.id) }, 'read'),
              h('button', { onClick: () => void inbox.markUnread(n.id) }, 'unread'),
              h('button', { onClick: () => void inbox.archive(n.id) }, 'archive'),
            ]),
          ),
        ),
        inbox.hasMore.value
          ? h('button', { 'data-testid': 'more', onClick: () => void inbox.loadMore() }, 'more')
          : null,
        h(
          'ul',
          { 'data-testid': 'unread-list', 'data-status': unreadOnly.status.value },
          unreadOnly.notifications.value.map((n) => h('li', { 'data-id': n.id }, n.title)),
        ),
        h('p', { 'data-testid': 'action-error' }, inbox.actionError.value?.code ?? ''),
      ]);
  },
});

const Root = defineComponent({
  setup() {
    return () =>
      h('main', [
        shown.status ? h(Status) : null,
        shown.channel ? h(Channel) : null,
        shown.keeper ? h(Keeper) : null,
        shown.inbox ? h(Inbox) : null,
      ]);
  },
});

let client: Herald | null = null;
let app: App | null = null;
const counts = { on: 0, subscriptions: 0 };
const provided: { client: Herald | null; app: App | null } = { client: null, app: null };

const harness = {
  start(token: string, channels: string[] = []) {
    const plugin = createHerald({
      options: { channels, getToken: () => token, shared: false, minReconnectDelayMs: 50 },
    });
    client = plugin.client;
    if (client) countRegistrations(client, counts);
    const el = document.createElement('div');
    document.body.append(el);
    app = createApp(Root).use(plugin);
    app.mount(el);
  },
  show(widget: keyof typeof shown, on = true) {
    shown[widget] = on;
  },
  setChannel(name: string | null) {
    channelName.value = name;
  },
  received: () => ({ channel: [...received.channel], keeper: [...received.keeper] }),
  counts(): Counts {
    return { ...counts, channels: client?.channels ?? [], state: client?.state ?? 'none' };
  },
  unmountApp() {
    app?.unmount();
    app = null;
  },
  /** A second app that owns its client through provideHerald. */
  provide(token: string) {
    const Child = defineComponent({
      setup() {
        const { status } = useHerald();
        return () =>
          h('p', { 'data-testid': 'provided', 'data-status': status.value }, status.value);
      },
    });
    const Widget = defineComponent({
      setup() {
        provided.client = provideHerald({
          options: { channels: ['user:erin'], getToken: () => token, shared: false },
        }).client;
        return () => h(Child);
      },
    });
    const el = document.createElement('div');
    document.body.append(el);
    provided.app = createApp(Widget);
    provided.app.mount(el);
  },
  providedState: () => provided.client?.state ?? 'none',
  unmountProvided: () => provided.app?.unmount(),
};

(globalThis as unknown as { harness: typeof harness }).harness = harness;
