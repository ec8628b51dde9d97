/**
 * The test page: one React app (in StrictMode unless asked otherwise) under a HeraldProvider,
 * whose widgets (each a component using the hooks) the test shows and hides through
 * `window.harness`. The provider's client is instrumented on its first render, before any
 * effect runs, so every `on` and `subscribe` is counted and a test can see them return to zero.
 */
import { StrictMode, useState, useSyncExternalStore, type ReactNode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import {
  HeraldProvider,
  useAISSE,
  useAlertStream,
  useChannel,
  useChatSSE,
  useEvents,
  useHerald,
  useHeraldClient,
  useNotifications,
  useStreamingText,
  useUnreadCount,
  useVoteSSE,
  type Herald,
  type HeraldEvent,
} from '../../src/index.js';
import { countRegistrations } from '../../../client/test/count-registrations.js';

// Every Herald registers one `pageshow` listener on window and removes it on close: counting
// them tells how many clients exist (StrictMode must not make a second one) and that the
// provider's client let go of the page when it closed.
let pageListeners = 0;
const addListener = window.addEventListener.bind(window);
const removeListener = window.removeEventListener.bind(window);
window.addEventListener = ((type: string, fn: EventListener, o?: AddEventListenerOptions) => {
  if (type === 'pageshow') pageListeners++;
  addListener(type, fn, o);
}) as typeof window.addEventListener;
window.removeEventListener = ((type: string, fn: EventListener, o?: EventListenerOptions) => {
  if (type === 'pageshow') pageListeners--;
  removeListener(type, fn, o);
}) as typeof window.removeEventListener;

// ---- a tiny store of what the test controls ----

const widgets = ['status', 'channel', 'events', 'inbox', 'alerts', 'text', 'seed'] as const;
type Widget = (typeof widgets)[number];
let controls = {
  shown: Object.fromEntries(widgets.map((w) => [w, false])) as Record<Widget, boolean>,
  channel: 'room:a' as string | null,
  textChannel: 'ai:s1',
};
const changes = new Set<() => void>();
function setControls(patch: Partial<typeof controls>): void {
  controls = { ...controls, ...patch };
  changes.forEach((fn) => fn());
}
function useControls(): typeof controls {
  return useSyncExternalStore(
    (fn) => {
      changes.add(fn);
      return () => changes.delete(fn);
    },
    () => controls,
  );
}

// ---- what the widgets saw ----

const received = { channel: [] as string[], events: [] as string[], seed: [] as string[] };
/** Every text useStreamingText rendered, in order (with StrictMode, some twice). */
const texts: string[] = [];
const counts = { on: 0, subscriptions: 0 };
let client: Herald | null = null;

function instrument(c: Herald): void {
  if (client === c) return;
  client = c;
  countRegistrations(c, counts);
}

// ---- the widgets ----

function Grab(): null {
  const c = useHeraldClient();
  if (c) instrument(c);
  return null;
}

function Status(): ReactNode {
  const h = useHerald();
  return (
    <p data-testid="status" data-status={h.status}>
      {h.status}
      {h.status === 'connected' ? ` over ${h.transport}` : ''} [{h.channels.join(',')}]
    </p>
  );
}

const line = (e: HeraldEvent) => `${e.channel}:${e.text}`;

function Channel({ name }: { name: string | null }): ReactNode {
  const [log, setLog] = useState<string[]>([]);
  // A new function every render: the hook keeps the latest in a ref, never resubscribing.
  useChannel(name, (e) => {
    received.channel.push(line(e));
    setLog((l) => [...l, line(e)]);
  });
  return (
    <ul data-testid="channel-log">
      {log.map((l, i) => (
        <li key={i}>{l}</li>
      ))}
    </ul>
  );
}

function Events(): ReactNode {
  const { events, clear } = useEvents(['room:b', 'room:c'], { max: 3 });
  received.events = events.map(line);
  return (
    <section>
      <ul data-testid="events">
        {events.map((e, i) => (
          <li key={i}>{line(e)}</li>
        ))}
      </ul>
      <button data-testid="clear" onClick={clear}>
        clear
      </button>
    </section>
  );
}

function Inbox(): ReactNode {
  const inbox = useNotifications({}, { limit: 2 });
  const unreadOnly = useNotifications({ unread: true });
  const count = useUnreadCount();
  return (
    <section>
      <p data-testid="unread" data-status={count.status}>
        {count.count}
      </p>
      <ul data-testid="inbox" data-status={inbox.status}>
        {inbox.notifications.map((n) => (
          <li key={n.id} data-id={n.id} data-read={String(n.read)}>
            {n.title}
            <button onClick={() => void inbox.markRead(n.id)}>read</button>
            <button onClick={() => void inbox.markUnread(n.id)}>unread</button>
            <button onClick={() => void inbox.archive(n.id)}>archive</button>
          </li>
        ))}
      </ul>
      {inbox.hasMore ? (
        <button data-testid="more" onClick={() => void inbox.loadMore()}>
          more
        </button>
      ) : null}
      <button data-testid="all-read" onClick={() => void inbox.markAllRead()}>
        all read
      </button>
      <ul data-testid="unread-list" data-status={unreadOnly.status}>
        {unreadOnly.notifications.map((n) => (
          <li key={n.id} data-id={n.id}>
            {n.title}
          </li>
        ))}
      </ul>
      <p data-testid="action-error">{inbox.actionError?.code ?? ''}</p>
    </section>
  );
}

function Alerts(): ReactNode {
  const a = useAlertStream({ feed: 'alerts' });
  return (
    <section
      data-testid="alerts"
      data-status={a.status}
      data-reason={a.reason?.code ?? ''}
      data-unacked={a.summary?.unacked ?? ''}
      data-critical={a.summary?.unackedBySeverity.critical ?? ''}
      data-new={a.lastNewAt === null ? 'no' : 'yes'}
    >
      <ul>
        {a.alerts.map((x) => (
          <li key={x.id} data-id={x.id} data-acked={String(x.acked)}>
            {x.title}
            <button onClick={() => void a.ack(x.id)}>ack</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Text({ channel }: { channel: string }): ReactNode {
  const t = useStreamingText(channel);
  texts.push(t.text);
  return (
    <section data-testid="text" data-status={t.status} data-tokens={t.tokens}>
      <p data-testid="answer">{t.text}</p>
      <button data-testid="stop" onClick={() => void t.cancel()}>
        stop
      </button>
    </section>
  );
}

function Seed(): ReactNode {
  const [n, setN] = useState(0);
  const push = (what: string) => {
    received.seed.push(what);
    setN((x) => x + 1);
  };
  const votes = useVoteSSE('eve', (d) => push(`votes:${JSON.stringify(d)}`));
  useChatSSE('eve', (d) => push(`chat:${JSON.stringify(d)}`));
  useAISSE('eve', (d) => push(`ai:${d.type}:${d.content}`));
  return (
    <p data-testid="seed" data-connected={String(votes.isConnected)}>
      {n}
    </p>
  );
}

function App(): ReactNode {
  const c = useControls();
  return (
    <main>
      <Grab />
      {c.shown.status ? <Status /> : null}
      {c.shown.channel ? <Channel name={c.channel} /> : null}
      {c.shown.events ? <Events /> : null}
      {c.shown.inbox ? <Inbox /> : null}
      {c.shown.alerts ? <Alerts /> : null}
      {c.shown.text ? <Text channel={c.textChannel} /> : null}
      {c.shown.seed ? <Seed /> : null}
    </main>
  );
}

let root: Root | null = null;

const harness = {
  start(token: string, channels: string[] = [], strict = true) {
    const el = document.createElement('div');
    document.body.append(el);
    root = createRoot(el);
    const tree = (
      <HeraldProvider
        getToken={() => token}
        channels={channels}
        shared={false}
        options={{ minReconnectDelayMs: 50 }}
      >
        <App />
      </HeraldProvider>
    );
    root.render(strict ? <StrictMode>{tree}</StrictMode> : tree);
  },
  show(widget: Widget, on = true) {
    setControls({ shown: { ...controls.shown, [widget]: on } });
  },
  setChannel(name: string | null) {
    setControls({ channel: name });
  },
  setTextChannel(name: string) {
    setControls({ textChannel: name });
  },
  received: () => ({ ...received }),
  texts: () => [...texts],
  counts: () => ({
    ...counts,
    clients: pageListeners,
    channels: client?.channels ?? [],
    state: client?.state ?? 'none',
  }),
  unmount() {
    root?.unmount();
    root = null;
  },
};

(globalThis as unknown as { harness: typeof harness }).harness = harness;
