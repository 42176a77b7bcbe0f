import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Bundles a TypeScript entry (the package's source and @ssehub/core included, ioredis left
 * external) into `.tmp/`, so child processes run it with plain `node` on Node 20.
 */
export async function bundle(entry: string): Promise<string> {
  const outdir = join(root, '.tmp');
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, `${entry.replace(/[/\\]/g, '_').replace(/\.ts$/, '')}.mjs`);
  await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['ioredis'],
    logLevel: 'error',
  });
  return outfile;
}
