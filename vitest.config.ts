import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Card keys and rollback records go to a temporary config directory per test file.
    setupFiles: ['test/setup/cardKey.ts'],
    // Real PC/SC tests start pcscd and vpcd; keep them from racing each other for the ports.
    fileParallelism: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
