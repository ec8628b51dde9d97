import type { BrokerEvent } from '../broker/broker.js';
import type { CallOp, IpcLink, ToPrimary, ToWorker } from './link.js';

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly at: number;
}

/** How long a call may wait for the primary's answer before it fails. */
const CALL_TIMEOUT_MS = 5000;

/**
 * A worker's side of the channel to the primary, shared by the worker's IPC broker, rate
 * limiter and stream buffer: numbered calls with their answers, relayed events, cancel
 * notices and snapshot requests. Calls left unanswered fail after `timeoutMs`, checked by
 * one timer for all of them (no timer per call on the publish path).
 */
export class PrimaryLink {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly stop: () => void;
  private readonly sweep: NodeJS.Timeout;
  private eventsListener: (events: readonly BrokerEvent[]) => void = () => undefined;
  private readonly cancelListeners: ((channel: string, stream: string) => void)[] = [];
  private snapshotOf: () => unknown = () => undefined;
  private closed = false;

  constructor(
    private readonly link: IpcLink<ToPrimary, ToWorker>,
    /** This worker's place among the workers (0 ... N-1), kept by its replacement. */
    readonly slot: number,
    private readonly timeoutMs = CALL_TIMEOUT_MS,
  ) {
    this.stop = link.listen((m) => this.receive(m));
    this.sweep = setInterval(() => this.expire(), Math.min(1000, timeoutMs));
    this.sweep.unref();
  }

  /** Asks the primary; rejects when the primary answers with an error, is gone or too slow. */
  call(op: CallOp, ...args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the link to the primary is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, at: Date.now() });
      try {
        this.link.send({ herald: 'call', id, op, args });
      } catch (err) {
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Hands events to the primary for every subscribed worker; throws when it is gone. */
  publish(events: readonly BrokerEvent[]): void {
    if (this.closed) throw new Error('the link to the primary is closed');
    this.link.send({ herald: 'pub', events });
  }

  /** The one receiver of relayed events (the IPC broker). */
  onEvents(listener: (events: readonly BrokerEvent[]) => void): void {
    this.eventsListener = listener;
  }

  /** Adds a receiver of cancel notices (each IPC stream buffer of this worker). */
  onCancel(listener: (channel: string, stream: string) => void): void {
    this.cancelListeners.push(listener);
  }

  /** What this worker answers when the primary asks for its numbers. */
  onSnapshot(provider: () => unknown): void {
    this.snapshotOf = provider;
  }

  private receive(m: ToWorker): void {
    switch (m.herald) {
      case 'ret': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(new Error(m.error ?? 'the primary refused the call'));
        return;
      }
      case 'events':
        this.eventsListener(m.events);
        return;
      case 'cancel':
        for (const l of this.cancelListeners) l(m.channel, m.stream);
        return;
      case 'snapshot?': {
        let value: unknown;
        try {
          value = this.snapshotOf();
        } catch {
          value = undefined;
        }
        try {
          this.link.send({ herald: 'snapshot', id: m.id, value });
        } catch {
          // the primary is gone: nobody waits for the answer
        }
        return;
      }
    }
  }

  private expire(): void {
    const old = Date.now() - this.timeoutMs;
    for (const [id, p] of this.pending) {
      if (p.at > old) continue;
      this.pending.delete(id);
      p.reject(new Error(`the primary did not answer within ${this.timeoutMs} ms`));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    clearInterval(this.sweep);
    for (const p of this.pending.values()) p.reject(new Error('the link to the primary is closed'));
    this.pending.clear();
  }
}
