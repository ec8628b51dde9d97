import type { Hub, HubStats } from '../hub/hub.js';
import type { PrimaryLink } from './primary-link.js';

/** One worker's numbers, as `GET /admin/stats` adds them up (`workers` in its answer). */
export interface WorkerSnapshot {
  readonly slot: number;
  readonly pid: number;
  readonly connections: number;
  readonly users: number;
  readonly channels: number;
  readonly totals: HubStats;
  readonly channelSubscribers: readonly { channel: string; subscribers: number }[];
}

/** What a worker tells the admin route: its place, and every worker's numbers. */
export interface WorkerStats {
  readonly slot: number;
  /** Every live worker's snapshot (this one's included), by slot. */
  snapshots(): Promise<WorkerSnapshot[]>;
}

/** This worker's numbers, read from its hub. */
export function snapshotOf(hub: Hub, slot: number): WorkerSnapshot {
  return {
    slot,
    pid: process.pid,
    connections: hub.sessions.size,
    users: hub.userCount,
    channels: hub.channelCount,
    totals: Object.assign({}, hub.stats, { connections: hub.sessions.size }),
    channelSubscribers: hub.channelSubscribers(),
  };
}

/** Answers the primary's snapshot requests from `hub`, and asks for everyone's. */
export function workerStats(primary: PrimaryLink, hub: Hub): WorkerStats {
  primary.onSnapshot(() => snapshotOf(hub, primary.slot));
  return {
    slot: primary.slot,
    async snapshots() {
      const all = (await primary.call('snapshots')) as (WorkerSnapshot | null)[];
      return all.filter((s): s is WorkerSnapshot => s !== null).sort((a, b) => a.slot - b.slot);
    },
  };
}
