// Runs a TypeScript file of this package with plain node (bundled by esbuild first).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

const [entry, ...args] = process.argv.slice(2);
if (!entry) throw new Error('usage: node test/run-ts.mjs <file.ts> [args...]');
mkdirSync('.tmp', { recursive: true });
const outfile = join('.tmp', `${basename(entry, '.ts')}.mjs`);
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['ioredis', 'esbuild'],
  logLevel: 'error',
});
const run = spawnSync(process.execPath, [outfile, ...args], { stdio: 'inherit' });
process.exit(run.status ?? 1);
