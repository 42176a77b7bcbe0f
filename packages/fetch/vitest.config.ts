import { defineConfig } from 'vitest/config';

// The Bun idle-timeout test holds a stream open for more than 12 s.
export default defineConfig({ test: { include: ['src/**/*.test.ts'], testTimeout: 30_000 } });
