import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration suites start real servers (Temporal dev server, KMS endpoint, Chromium);
    // on 2-core machines running them all at once starves each of them.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
