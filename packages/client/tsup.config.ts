import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry per subpath export; react and vue stay external (peer dependencies).
  entry: ['src/index.ts', 'src/react.ts', 'src/vue.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'browser',
  // Self-contained entries: a page can load dist/index.js as a plain ES module, no bundler.
  splitting: false,
});
