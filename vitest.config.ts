import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/teardown.ts'],
    // The suite measures CPU time and memory of real sandboxes on a 2-core host:
    // one file at a time keeps the figures honest.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
