import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { discoverFixtures, type Fixture, runtimeBinary, waitForBuilds } from './fixture.js';

function workspace(apps: Record<string, unknown>): string {
  const root = mkdtempSync(join(tmpdir(), 'ssehub-conformance-'));
  for (const [name, manifest] of Object.entries(apps)) {
    mkdirSync(join(root, 'apps', name), { recursive: true });
    writeFileSync(join(root, 'apps', name, 'package.json'), JSON.stringify(manifest));
  }
  return root;
}

const entry = { name: 'a', runtime: 'node' as const, command: ['node', 'main.js'] };

describe('discoverFixtures', () => {
  test('reads ssehubConformance entries of every app, sorted by name', () => {
    const root = workspace({
      one: { name: '@x/one', ssehubConformance: [{ ...entry, name: 'z' }, entry] },
      two: { name: '@x/two' },
      three: { name: '@x/three', ssehubConformance: [{ ...entry, name: 'm', runtime: 'bun' }] },
    });
    const fixtures = discoverFixtures(root);
    expect(fixtures.map((f) => [f.name, f.app, f.runtime])).toEqual([
      ['a', '@x/one', 'node'],
      ['m', '@x/three', 'bun'],
      ['z', '@x/one', 'node'],
    ]);
    expect(fixtures[0]!.cwd).toBe(join(root, 'apps', 'one'));
  });

  test('refuses unknown checks, runtimes and duplicate names', () => {
    const bad = (e: unknown) => () =>
      discoverFixtures(workspace({ app: { name: 'app', ssehubConformance: [e] } }));
    expect(bad({ ...entry, skip: ['nope'] })).toThrow(/unknown check "nope"/);
    expect(bad({ ...entry, runtime: 'workerd' })).toThrow(/runtime/);
    expect(bad({ ...entry, command: [] })).toThrow(/command/);
    expect(() =>
      discoverFixtures(
        workspace({ a: { ssehubConformance: [entry] }, b: { ssehubConformance: [entry] } }),
      ),
    ).toThrow(/duplicate fixture a/);
  });
});

describe('waitForBuilds', () => {
  test("waits for a workspace dependency's build, and names it when it never comes", async () => {
    const root = workspace({ app: { name: 'app', dependencies: { lib: 'workspace:*' } } });
    const lib = join(root, 'apps', 'app', 'node_modules', 'lib');
    mkdirSync(lib, { recursive: true });
    writeFileSync(
      join(lib, 'package.json'),
      JSON.stringify({
        name: 'lib',
        scripts: { build: 'tsup' },
        exports: { '.': { import: { default: './dist/index.js' } } },
      }),
    );
    const fixture: Fixture = { ...entry, app: 'app', cwd: join(root, 'apps', 'app') };
    await expect(waitForBuilds(fixture, 300)).rejects.toThrow(/dist\/index\.js is not built/);
    const other: Fixture = { ...fixture, cwd: `${fixture.cwd}/` };
    const waiting = waitForBuilds(other, 10_000);
    setTimeout(() => {
      mkdirSync(join(lib, 'dist'));
      writeFileSync(join(lib, 'dist', 'index.js'), '');
    }, 300);
    await expect(waiting).resolves.toBeUndefined();
  });
});

test('the node runtime is the one running the suite', () => {
  expect(runtimeBinary('node')).toMatchObject({ ok: true, path: process.execPath });
});
