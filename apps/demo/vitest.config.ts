import { defineConfig } from 'vitest/config';

// The browser test starts the demo server and Chromium: give it room, and run files one by one.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
