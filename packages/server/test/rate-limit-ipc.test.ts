import { IpcRateLimiter } from '../src/rate-limit/ipc.js';
import { relayForFile } from './ipc-links.js';
import { rateLimiterContract } from './rate-limiter-contract.js';

// Each limiter is a worker of one primary, which does the counting.
const relay = await relayForFile();

rateLimiterContract('IpcRateLimiter', async () => new IpcRateLimiter(relay.link()));
