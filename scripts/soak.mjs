// `npm run soak -- --minutes 30 [--subscribers 2000] [--rate 40]`: runs the chaos soak
// (packages/server/test/soak/chaos.soak.ts) against the built server.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    subscribers: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '40' },
  },
});
const result = spawnSync(
  'npx',
  ['vitest', 'run', '--config', 'packages/server/test/soak/vitest.config.ts'],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      HERALD_SOAK_MINUTES: values.minutes,
      HERALD_SOAK_SUBSCRIBERS: values.subscribers,
      HERALD_SOAK_RATE: values.rate,
    },
  },
);
process.exit(result.status ?? 1);
