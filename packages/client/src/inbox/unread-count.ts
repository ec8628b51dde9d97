import type { Herald } from '../herald.js';
import type { HeraldApi, HeraldApiError } from './api.js';
import { followInbox } from './inbox-source.js';
import type { InboxSummary } from './notification.js';
import { RunningStore } from './snapshot-store.js';

export interface UnreadCountState {
  readonly status: 'loading' | 'success' | 'error';
  readonly summary: InboxSummary | null;
  readonly error: HeraldApiError | null;
}

/** A burst of notifications to everyone refetches the summary once, this long after the last. */
const BROADCAST_SETTLE_MS = 150;

/**
 * The summary (unread, unseen, unacked by severity) of the user's inbox, or of a feed:
 * `GET /notifications/summary`, then every live `summary` event. Notifications to everyone
 * publish no per-user summary, so one of those arriving refetches it (once for a burst).
 * The server's summary is exact; nothing is counted locally, so it cannot drift.
 * `start()`/`stop()` as every RunningStore's.
 */
export class UnreadCount extends RunningStore<UnreadCountState> {
  constructor(
    private readonly client: Herald | null,
    private readonly api: HeraldApi,
    private readonly channel?: string,
  ) {
    super({ status: 'loading', summary: null, error: null });
  }

  protected override get runnable(): boolean {
    return this.client !== null;
  }

  protected open(): () => void {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let version = 0;
    const load = () => {
      const mine = ++version;
      this.api
        .get<InboxSummary>('/notifications/summary', { channel: this.channel })
        .then((summary) => {
          if (!cancelled && mine === version) {
            this.update({ summary, error: null, status: 'success' });
          }
        })
        .catch((error: HeraldApiError) => {
          if (!cancelled) this.update({ error, status: 'error' });
        });
    };
    const stop = followInbox(
      this.client!,
      this.channel,
      (e) => {
        if (e.type === 'summary' && e.channel !== 'broadcast') {
          version++; // a fetch still under way is older than this event
          this.update({ summary: e.data as InboxSummary, error: null, status: 'success' });
        } else if (e.channel === 'broadcast' && e.type.startsWith('notification')) {
          clearTimeout(timer);
          timer = setTimeout(load, BROADCAST_SETTLE_MS);
        }
      },
      load,
    );
    load();
    return () => {
      cancelled = true;
      clearTimeout(timer);
      stop();
    };
  }
}
