/**
 * Runs the suite against every fixture found in apps/*\/package.json ("ssehubConformance").
 * `SSEHUB_FIXTURES=express,node:http` runs only the named fixtures.
 */

import { describe, expect, test } from 'vitest';
import { discoverFixtures, runtimeBinary } from './fixture.js';
import { defineConformanceSuite } from './suite.js';

const fixtures = discoverFixtures();
const only = process.env.SSEHUB_FIXTURES?.split(',').map((name) => name.trim());

test('discovers the example apps', () => {
  const names = fixtures.map((f) => f.name);
  expect(names).toContain('node:http');
  expect(names).toContain('express');
});

for (const fixture of fixtures) {
  if (only && !only.includes(fixture.name)) continue;
  const binary = runtimeBinary(fixture.runtime);
  if (binary.ok) defineConformanceSuite(fixture);
  else {
    describe.skip(`${fixture.name} (${fixture.runtime}): skipped, ${binary.reason}`, () => {
      test('the runtime is not available', () => {});
    });
  }
}
