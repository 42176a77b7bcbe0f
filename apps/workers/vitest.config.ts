import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // workerd starts in a few seconds; CI shares 2 cores with other tasks.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
