/**
 * Soak mode: the long versions of the suite's heavy scenarios, with the same pass criteria.
 *
 *   pnpm --filter @ssehub/reliability soak
 *
 * | variable | default | what |
 * | --- | --- | --- |
 * | `SOAK_CHURN_CYCLES` | 1 000 000 | connect/disconnect cycles (the test runs the 100 000) |
 * | `SOAK_SLOW_MINUTES` | 10 | slow-consumer run: 5 rounds of baseline + loaded, waves of 1 000 paused clients |
 * | `SOAK_FUZZ_RUNS` | 20 000 | fast-check runs of the HTTP fuzz (the test runs 1 000) |
 * | `SOAK_ONLY` | all | `churn`, `slow` or `fuzz` |
 * | `SOAK_OUT` | none | a JSON file for the figures |
 *
 * Prints `[reliability] ...` lines (one per scenario and phase) and a summary; exits 1 when a
 * criterion fails.
 */

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { PACKAGE_DIR } from './harness/processes.js';
import { runChurn } from './scenarios/churn.js';
import { runSlowConsumers } from './scenarios/slow-consumers.js';

const env = process.env;
const only = env.SOAK_ONLY;
const failures: string[] = [];
const figures: Record<string, unknown> = {};
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

if (!only || only === 'churn') {
  const cycles = Number(env.SOAK_CHURN_CYCLES ?? 1_000_000);
  const churn = await runChurn({ cycles, concurrency: 32, maxMs: cycles * 5 });
  const { after, baseline, empty, idle } = churn;
  check(churn.cycles === cycles, `churn: ${churn.cycles} of ${cycles} cycles ran`);
  check(churn.failures === 0, `churn: ${churn.failures} cycles failed`);
  check(after.info.connectionCount === 8 && after.sockets === 8, 'churn: connections left over');
  check(after.drainListeners === baseline.drainListeners, 'churn: drain listeners left over');
  check(after.closeListeners === baseline.closeListeners, 'churn: close listeners left over');
  check(JSON.stringify(after.timers) === JSON.stringify(baseline.timers), 'churn: timers left');
  check(churn.heapRatio <= 1.1, `churn: heap ratio ${churn.heapRatio.toFixed(3)} > 1.1`);
  check(empty.info.connectionCount === 0 && empty.info.groupCount === 0, 'churn: hub not empty');
  check(JSON.stringify(empty.timers) === JSON.stringify(idle.timers), 'churn: hub timers run on');
  figures.churn = {
    cycles: churn.cycles,
    seconds: churn.elapsedMs / 1000,
    perSecond: churn.perSecond,
    heapRatio: churn.heapRatio,
    heapBaseline: baseline.memory.heapUsed,
    heapAfter: after.memory.heapUsed,
  };
}

if (!only || only === 'slow') {
  const minutes = Number(env.SOAK_SLOW_MINUTES ?? 10);
  const rounds = 5;
  const slow = await runSlowConsumers({
    fast: 4_000,
    slow: 1_000,
    policy: 'disconnect',
    maxQueuedEvents: 32,
    maxQueuedBytes: 64 * 1024,
    rate: 10,
    padBytes: 200,
    bulkBytes: 16_000,
    waves: true,
    rounds,
    phaseMs: (minutes * 60_000) / (2 * rounds),
  });
  const perConnection = 64 * 1024 + 16 * 1024 + 64 * 1024;
  check(slow.medianRatio <= 1.5, `slow: median p99 ratio ${slow.medianRatio.toFixed(2)} > 1.5`);
  check(slow.fastGaps === 0, `slow: fast clients missed ${slow.fastGaps} events`);
  check(slow.fastDisconnected === 0, `slow: ${slow.fastDisconnected} fast clients disconnected`);
  for (const phase of slow.phases) {
    check(phase.peaks.queuedMax <= 64 * 1024, `slow: ${phase.label}: queue over the cap`);
    check(
      phase.peaks.queuedTotal + phase.peaks.socketBufferedTotal <= 1_000 * perConnection,
      `slow: ${phase.label}: buffered bytes over slow x cap`,
    );
    // Every wave but the last is cut off entirely before the next one opens.
    check(
      phase.slowDisconnects >= phase.slowOpened - 1_000 &&
        phase.slowDisconnects <= phase.slowOpened,
      `slow: ${phase.label}: ${phase.slowDisconnects} of ${phase.slowOpened} slow clients cut off`,
    );
  }
  figures.slow = {
    ratios: slow.ratios,
    medianRatio: slow.medianRatio,
    phases: slow.phases.map((p) => ({
      label: p.label,
      p50: p.p50,
      p99: p.p99,
      slowOpened: p.slowOpened,
      slowDisconnects: p.slowDisconnects,
      peakQueuedTotal: p.peaks.queuedTotal,
      peakHeapUsed: p.peakMemory.heapUsed,
    })),
    lingeringSockets: slow.lingeringSockets,
  };
}

if (!only || only === 'fuzz') {
  const runs = env.SOAK_FUZZ_RUNS ?? '20000';
  const result = spawnSync('npx', ['vitest', 'run', 'src/http-input.test.ts', '-t', 'fuzz'], {
    cwd: PACKAGE_DIR,
    env: { ...env, FUZZ_RUNS: runs },
    stdio: 'inherit',
  });
  check(result.status === 0, `fuzz: ${runs} runs failed (exit ${result.status})`);
  figures.fuzz = { runs: Number(runs), passed: result.status === 0 };
}

console.log(`[reliability] soak | ${failures.length === 0 ? 'PASS' : 'FAIL'}`);
for (const failure of failures) console.log(`[reliability] soak | failed: ${failure}`);
if (env.SOAK_OUT) writeFileSync(env.SOAK_OUT, JSON.stringify({ failures, figures }, null, 2));
process.exit(failures.length === 0 ? 0 : 1);
