import { defineConfig } from 'vitest/config';
import testDeployment from './test/deployment.json' with { type: 'json' };

// The suite is a deployment of its own (data dir, cgroup parent, slot uids), never a live one's:
// defaults for what the environment does not set, before the global set-up and the test processes read them.
for (const [name, value] of Object.entries(testDeployment)) process.env[name] ||= value;

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
