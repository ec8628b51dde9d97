import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll } from 'vitest';
import type { IpcLink, ToPrimary, ToWorker } from '../src/workers/link.js';
import { PrimaryLink } from '../src/workers/primary-link.js';
import { WorkerRelay } from '../src/workers/relay.js';

function portLink<Out, In>(port: MessagePort): IpcLink<Out, In> {
  return {
    send: (m) => port.postMessage(m),
    listen(listener) {
      const on = (m: In) => listener(m);
      port.on('message', on);
      port.unref();
      return () => port.off('message', on);
    },
  };
}

/**
 * A worker's link to `relay` over a real message channel (structured clone, asynchronous,
 * in order), as a worker process's IPC channel to the primary is; `close` tears it down.
 */
export function linkTo(relay: WorkerRelay, slot = 0): { link: PrimaryLink; close: () => void } {
  const { port1, port2 } = new MessageChannel();
  const detach = relay.attach(portLink<ToWorker, ToPrimary>(port1));
  const link = new PrimaryLink(portLink<ToPrimary, ToWorker>(port2), slot);
  return {
    link,
    close() {
      link.close();
      detach();
      port1.close();
      port2.close();
    },
  };
}

/**
 * One started relay for a test file, closed after the file with every link made to it:
 * each `link()` is a new worker's link (the next slot).
 */
export async function relayForFile(): Promise<{ link: () => PrimaryLink }> {
  const relay = new WorkerRelay({ maxTokens: 10, maxBytes: 64, graceMs: 1000, idleMs: 1000 });
  await relay.start();
  const closers: (() => void)[] = [];
  afterAll(async () => {
    for (const close of closers) close();
    await relay.close();
  });
  return {
    link() {
      const { link, close } = linkTo(relay, closers.length);
      closers.push(close);
      return link;
    },
  };
}
