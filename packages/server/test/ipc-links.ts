import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { IpcLink, ToPrimary, ToWorker } from '../src/workers/link.js';
import { PrimaryLink } from '../src/workers/primary-link.js';
import type { WorkerRelay } from '../src/workers/relay.js';

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
