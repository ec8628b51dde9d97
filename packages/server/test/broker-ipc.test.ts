import { IpcBroker } from '../src/broker/ipc.js';
import { brokerContract } from './broker-contract.js';
import { relayForFile } from './ipc-links.js';

// Every broker is a worker of one primary: the cross-node cases are the cross-worker ones.
const relay = await relayForFile();

brokerContract('IpcBroker', () => new IpcBroker(relay.link()), { networked: true });
