import type { BrokerEvent } from '../broker/broker.js';

/**
 * The messages between `herald serve --workers N`'s primary process and its workers, over
 * Node's IPC channel (one per worker, JSON, in order, never lost while both ends live). The
 * primary plays the part Redis plays in a cluster: it relays live events, counts rate
 * limits and holds the AI token buffers; the SQLite file is the store every worker shares.
 */
export type ToPrimary =
  /** A request; answered by one `ret` with the same `id`. */
  | { readonly herald: 'call'; readonly id: number; readonly op: CallOp; readonly args: unknown[] }
  /** Events to relay to every worker subscribed to their channels (this one included). */
  | { readonly herald: 'pub'; readonly events: readonly BrokerEvent[] }
  /** This worker's answer to a `snapshot` request. */
  | { readonly herald: 'snapshot'; readonly id: number; readonly value: unknown };

export type ToWorker =
  | {
      readonly herald: 'ret';
      readonly id: number;
      readonly ok: boolean;
      readonly value?: unknown;
      readonly error?: string;
    }
  /** Live events of channels this worker subscribed to, in the order the primary got them. */
  | { readonly herald: 'events'; readonly events: readonly BrokerEvent[] }
  /** A stream was cancelled (on any worker): the `StreamBuffer` contract's `onCancel`. */
  | { readonly herald: 'cancel'; readonly channel: string; readonly stream: string }
  /** The primary asks for this worker's numbers (`GET /admin/stats` of any worker). */
  | { readonly herald: 'snapshot?'; readonly id: number };

/** What a worker can ask the primary, and the arguments each takes (see `relay.ts`). */
export type CallOp =
  | 'subscribe'
  | 'unsubscribe'
  | 'ping'
  | 'rate.hit'
  | 'streams.begin'
  | 'streams.append'
  | 'streams.finish'
  | 'streams.latest'
  | 'streams.read'
  | 'streams.cancel'
  | 'snapshots';

/**
 * One end of an IPC channel: a worker's `process`, the primary's `Worker`, or (tests) a
 * `MessagePort`. `send` throws once the other end is gone.
 */
export interface IpcLink<Out, In> {
  send(message: Out): void;
  /** Adds a listener of this end's incoming messages; returns what removes it. */
  listen(listener: (message: In) => void): () => void;
}

/** Whether `m` is one of Herald's messages (the IPC channel may carry others). */
export function isHeraldMessage(m: unknown): m is { herald: string } {
  return (
    typeof m === 'object' && m !== null && typeof (m as { herald?: unknown }).herald === 'string'
  );
}

/** A worker process's end of its channel to the primary. */
export function processLink(proc: NodeJS.Process = process): IpcLink<ToPrimary, ToWorker> {
  return {
    send(message) {
      if (!proc.send || !proc.connected) throw new Error('the primary process is gone');
      proc.send(message);
    },
    listen(listener) {
      const on = (m: unknown) => {
        if (isHeraldMessage(m)) listener(m as ToWorker);
      };
      proc.on('message', on);
      return () => proc.off('message', on);
    },
  };
}
