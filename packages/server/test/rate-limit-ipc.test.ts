import { afterAll } from 'vitest';
import { IpcRateLimiter } from '../src/rate-limit/ipc.js';
import { WorkerRelay } from '../src/workers/relay.js';
import { linkTo } from './ipc-links.js';
import { rateLimiterContract } from './rate-limiter-contract.js';

// Each limiter is a worker of one primary, which does the counting.
const relay = new WorkerRelay({ maxTokens: 10, maxBytes: 64, graceMs: 1000, idleMs: 1000 });
await relay.start();
const links: (() => void)[] = [];
afterAll(async () => {
  for (const close of links) close();
  await relay.close();
});

rateLimiterContract('IpcRateLimiter', async () => {
  const { link, close } = linkTo(relay, links.length);
  links.push(close);
  return new IpcRateLimiter(link);
});
