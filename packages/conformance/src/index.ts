export {
  type EventSourceClient,
  type EventSourceKind,
  openEventSource,
  openPaused,
  openRaw,
  type PausedStream,
  type RawStream,
  waitFor,
} from './clients.js';
export {
  CHECKS,
  type Check,
  discoverFixtures,
  type Fixture,
  type FixtureEntry,
  type RunningFixture,
  type Runtime,
  repoRoot,
  runtimeBinary,
  startFixture,
  waitForBuilds,
} from './fixture.js';
export { defineConformanceSuite, type SuiteOptions } from './suite.js';
