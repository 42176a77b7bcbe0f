import { defineConfig } from 'vitest/config';

// Every file starts servers and thousands of sockets: one file at a time, in one fork, so the
// heavy ones never overlap (and never overlap a timing measurement).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
