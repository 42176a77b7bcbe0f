import { defineConfig, type Options } from 'tsup';

/**
 * The build every published package shares: ESM and CJS, each with its own type declarations
 * (the nested import/require conditions of the exports maps), ES2022, source maps.
 */
export function packageBuild(options: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'es2022',
    platform: 'neutral',
    ...options,
  });
}
