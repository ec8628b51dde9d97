import { afterAll } from 'vitest';
import { IpcBroker } from '../src/broker/ipc.js';
import { WorkerRelay } from '../src/workers/relay.js';
import { brokerContract } from './broker-contract.js';
import { linkTo } from './ipc-links.js';

// Every broker is a worker of one primary: the cross-node cases are the cross-worker ones.
const relay = new WorkerRelay({ maxTokens: 10, maxBytes: 64, graceMs: 1000, idleMs: 1000 });
await relay.start();
const links: (() => void)[] = [];
afterAll(async () => {
  for (const close of links) close();
  await relay.close();
});

brokerContract(
  'IpcBroker',
  () => {
    const { link, close } = linkTo(relay, links.length);
    links.push(close);
    return new IpcBroker(link);
  },
  { networked: true },
);
