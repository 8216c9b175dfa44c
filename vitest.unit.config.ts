import { defineConfig } from 'vitest/config';

/**
 * The unit tier (`npm run test:unit`): the pure modules, no root, no kernel
 * facility, no Redis, no rootfs; a few seconds. A test file belongs here when
 * it only reads the sources and calls functions (comparison, verdicts, the
 * settings and limit tables, the layers, the docs checks, the contract).
 * `npm test` runs these too, with the rest of the suite.
 */
export const UNIT_TESTS = [
  'test/compare.test.ts',
  'test/verdicts.test.ts',
  'test/config.test.ts',
  'test/settings.test.ts',
  'test/limit-table.test.ts',
  'test/layers.test.ts',
  'test/seccomp-doc.test.ts',
  'test/connection.test.ts',
  'test/cgroup2.test.ts',
  // runcell doctor's container checks (cli/container.ts): pure functions on a container's facts.
  'test/container-doctor.test.ts',
  'test/security/coverage.test.ts',
  'test/readme.test.ts',
  // The Judge0 and Piston translations (api/judge0, api/piston): pure functions.
  'test/compat-units.test.ts',
  // The job contract (contract/): pure schemas.
  'test/contract*.test.ts',
  'test/contract/**/*.test.ts',
  // The safe archive reader (archive/): crafted archives in memory and in a temporary dir.
  'test/archive.test.ts',
  // Reading a problem package's layout and problem.yaml (contract/problem-package.ts).
  'test/problem-package.test.ts',
];

export default defineConfig({
  test: {
    include: UNIT_TESTS,
    testTimeout: 10_000,
  },
});
