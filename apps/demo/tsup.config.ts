import { defineConfig } from 'tsup';

// Only the server is built; the page (public/) is plain ES modules served as they are.
export default defineConfig({
  entry: ['src/server.ts'],
  format: ['esm'],
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
