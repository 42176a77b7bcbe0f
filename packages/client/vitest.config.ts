import { defineConfig } from 'vitest/config';

// Node by default; the React and Vue tests opt into happy-dom with a file comment.
export default defineConfig({ test: { include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] } });
