import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    // One throwaway PostgreSQL server for the run (initdb in a temporary folder); MESHCA_TEST_DATABASE_URL names another.
    globalSetup: ['test/helpers/global-postgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time even on two cores (vitest's default would be one): most tests wait on child processes,
    // sockets and timers, not on the CPU.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
