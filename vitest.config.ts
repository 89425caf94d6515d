import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time even on two cores (vitest's default would be one): most tests wait on child processes,
    // sockets and timers, not on the CPU.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
