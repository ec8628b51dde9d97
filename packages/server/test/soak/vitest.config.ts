import { defineConfig } from 'vitest/config';

// The chaos soak only (`npm run soak`); `npm test` never runs it (its files are not *.test.ts).
export default defineConfig({
  test: {
    include: ['packages/server/test/soak/*.soak.ts'],
    testTimeout: 4 * 3_600_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
