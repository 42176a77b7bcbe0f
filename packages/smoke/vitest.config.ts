import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Packing, `npm install` from the registry and two tsc runs: minutes on a busy CI machine.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
