import { MemoryBroker } from '../src/broker/memory.js';
import { brokerContract } from './broker-contract.js';

// One process, no network: each instance is its own world, so the cross-node cases do not apply.
brokerContract('MemoryBroker', () => new MemoryBroker(), { networked: false });
