import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Each test group starts its own server process; CI shares 2 cores with other tasks.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
