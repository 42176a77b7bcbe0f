/**
 * What a user installs, checked from the outside: every published package is packed with
 * `pnpm pack` (its `prepack` builds first), each tarball goes through attw, and the tarballs are
 * installed with npm into a fresh project under the system's temp directory, where the root
 * README's tour is type-checked (strict; node16 and bundler resolution) and run as ESM and as
 * CommonJS.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractTour, smokeProgram } from './tour.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const require = createRequire(import.meta.url);

interface Published {
  name: string;
  version: string;
  /** Subpaths of its exports map that hold code (`.`, `./react`, ...). */
  entries: string[];
}

/** Every package under packages/ that is not private: what `pnpm publish -r` publishes. */
function publishedPackages(): Published[] {
  const published: Published[] = [];
  for (const dir of readdirSync(join(root, 'packages'))) {
    let manifest: {
      name: string;
      version: string;
      private?: boolean;
      exports?: Record<string, unknown>;
    };
    try {
      manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    const entries = Object.keys(manifest.exports ?? { '.': null }).filter(
      (subpath) => subpath !== './package.json',
    );
    published.push({ name: manifest.name, version: manifest.version, entries });
  }
  return published.sort((a, b) => a.name.localeCompare(b.name));
}

function run(command: string, args: string[], cwd: string, timeout = 240_000) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout });
  if (result.error) throw result.error;
  return result;
}

function output(result: SpawnSyncReturns<string>): string {
  return `${result.stdout}${result.stderr}`.trim();
}

function tarballName({ name, version }: Published): string {
  return `${name.replace('@', '').replace('/', '-')}-${version}.tgz`;
}

const packages = publishedPackages();
const tarballs = new Map<string, string>();
let work = '';

beforeAll(() => {
  expect(packages.map((pkg) => pkg.name)).toContain('@ssehub/core');
  work = mkdtempSync(join(tmpdir(), 'ssehub-smoke-'));
  const destination = join(work, 'tarballs');
  mkdirSync(destination);
  const filters = packages.flatMap((pkg) => ['--filter', pkg.name]);
  const packed = run('pnpm', ['-r', ...filters, 'pack', '--pack-destination', destination], root);
  expect(packed.status, output(packed)).toBe(0);
  for (const pkg of packages) tarballs.set(pkg.name, join(destination, tarballName(pkg)));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('packed tarballs', () => {
  it.each(packages)('$name holds dist/, LICENSE and README', (pkg) => {
    const listing = run('tar', ['-tzf', tarballs.get(pkg.name)!], root);
    expect(listing.status, output(listing)).toBe(0);
    const files = listing.stdout.split('\n');
    const dist = ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts'].map(
      (file) => `dist/${file}`,
    );
    for (const file of ['LICENSE', 'README.md', 'package.json', ...dist]) {
      expect(files).toContain(`package/${file}`);
    }
    const manifest = run('tar', ['-xzOf', tarballs.get(pkg.name)!, 'package/package.json'], root);
    expect(manifest.stdout).not.toContain('workspace:');
  });

  it.each(packages)('$name: attw finds no problem (node10, node16 CJS and ESM, bundler)', (pkg) => {
    const cli = require.resolve('@arethetypeswrong/cli/package.json');
    const attw = join(cli, '..', require(cli).bin.attw);
    const result = run(process.execPath, [attw, tarballs.get(pkg.name)!, '--format', 'json'], root);
    const report = JSON.parse(result.stdout) as {
      analysis: {
        problems: unknown[];
        entrypoints: Record<
          string,
          { resolutions: Record<string, { resolution?: { fileName: string } }> }
        >;
      };
    };
    const lines = Object.entries(report.analysis.entrypoints).map(
      ([subpath, { resolutions }]) =>
        `  ${subpath}: ${Object.entries(resolutions)
          .map(
            ([kind, r]) => `${kind} ${r.resolution ? basename(r.resolution.fileName) : 'FAILED'}`,
          )
          .join(', ')}`,
    );
    const problems = report.analysis.problems;
    console.log(
      `attw ${pkg.name}: ${problems.length ? JSON.stringify(problems) : 'no problems'}\n${lines.join('\n')}`,
    );
    expect(problems).toEqual([]);
    expect(result.status, output(result)).toBe(0);
    expect(lines.join('\n')).not.toContain('FAILED');
  });
});

describe('installed with npm into a fresh project', () => {
  let project = '';
  let typecheck: SpawnSyncReturns<string>;
  let bundlerCheck: SpawnSyncReturns<string>;

  beforeAll(() => {
    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'ssehub-smoke-app', version: '1.0.0', private: true }, null, 2)}\n`,
    );
    // The tarballs, what the tour's wrapper uses (a Node EventSource, Node's types); npm adds
    // the packages' required peers (koa, h3, ioredis) by itself.
    const install = run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        ...tarballs.values(),
        'eventsource@^4',
        '@types/node@^20',
      ],
      project,
    );
    expect(install.status, output(install)).toBe(0);

    const tour = extractTour(readFileSync(join(root, 'README.md'), 'utf8'));
    writeFileSync(join(project, 'tour.mts'), smokeProgram(tour, 'esm'));
    writeFileSync(join(project, 'tour.cts'), smokeProgram(tour, 'cjs'));
    const compilerOptions = {
      strict: true,
      target: 'es2022',
      lib: ['es2023', 'dom'],
      types: ['node'],
      skipLibCheck: false,
      esModuleInterop: true,
    };
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { ...compilerOptions, module: 'node16', outDir: 'out' },
        files: ['tour.mts', 'tour.cts'],
      }),
    );
    writeFileSync(
      join(project, 'tsconfig.bundler.json'),
      JSON.stringify({
        compilerOptions: {
          ...compilerOptions,
          module: 'esnext',
          moduleResolution: 'bundler',
          noEmit: true,
        },
        files: ['tour.mts'],
      }),
    );
    const tsc = require.resolve('typescript/bin/tsc');
    typecheck = run(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    bundlerCheck = run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], project);
  });

  it('loads every entry as ESM and as CommonJS, with the same exports', () => {
    const entries = packages.flatMap((pkg) =>
      pkg.entries
        .map((subpath) => (subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`))
        // react and vue are optional peers the project does not install; attw covers them.
        .filter((specifier) => !/\/(react|vue)$/.test(specifier)),
    );
    writeFileSync(
      join(project, 'load.mjs'),
      `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const names = (module) => Object.keys(module).filter((key) => key !== 'default' && key !== '__esModule').sort();
for (const specifier of ${JSON.stringify(entries)}) {
  const esm = names(await import(specifier));
  const cjs = names(require(specifier));
  if (esm.join() !== cjs.join()) throw new Error(\`\${specifier}: ESM \${esm} but CJS \${cjs}\`);
  console.log(\`load \${specifier}: \${esm.length} exports, ESM and CJS alike\`);
}
`,
    );
    const result = run(process.execPath, ['load.mjs'], project);
    console.log(output(result));
    expect(result.status, output(result)).toBe(0);
  });

  it('type-checks the README tour (strict; node16 ESM and CJS, bundler)', () => {
    expect(typecheck.status, output(typecheck)).toBe(0);
    expect(bundlerCheck.status, output(bundlerCheck)).toBe(0);
  });

  it.each([
    ['ESM', 'out/tour.mjs', 'esm'],
    ['CommonJS', 'out/tour.cjs', 'cjs'],
  ])('runs the README tour as %s', (_label, file, format) => {
    const result = run(process.execPath, [file], project, 60_000);
    console.log(output(result));
    expect(result.status, output(result)).toBe(0);
    expect(result.stdout).toContain(`smoke ${format}: ok`);
  });
});
