/**
 * `pnpm bench`: runs every server under test in turn on the same harness and machine, prints
 * progress and a table, and writes `results/latest.md`, `latest.svg` and `latest.json`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchConfig, parseArgs, USAGE } from './harness/config.js';
import { LoadGenerator } from './harness/loadgen.js';
import { checkTargets, consoleTable, markdown, svgChart, targetLines } from './harness/report.js';
import { runServer, type ServerResult, turns } from './harness/run.js';
import { killServers } from './harness/server-process.js';
import { packageVersion, runtimeBinary, SERVERS, type ServerSpec } from './harness/servers.js';

// An interrupted run takes its servers and load generators with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killServers();
    LoadGenerator.killAll();
    process.exit(130);
  });
}

const distDir = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.dirname(distDir);

function runtimeVersion(runtime: 'bun' | 'deno'): string {
  const binary = runtimeBinary(runtime);
  if (!binary) return 'not installed';
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  // `bun --version` prints `1.4.5`; `deno --version` prints `deno 2.9.6 (stable, ...)` and more.
  const version = /\d+\.\d+\.\d+\S*/.exec(out.stdout ?? '')?.[0];
  return version ? `${runtime} ${version}` : `${runtime} unknown`;
}

async function main(): Promise<void> {
  const scenario = process.argv.indexOf('--scenario');
  if (scenario >= 0 && process.argv[scenario + 1] === 'storm') {
    // The reconnect storm: its own harness (src/storm/main.ts), run as a child with the args.
    const child = spawnSync(
      process.execPath,
      [path.join(distDir, 'storm/main.js'), ...process.argv.slice(2)],
      { stdio: 'inherit' },
    );
    process.exitCode = child.status ?? 1;
    return;
  }
  let config: ReturnType<typeof parseArgs>;
  try {
    config = parseArgs(process.argv.slice(2), path.join(appDir, 'results'));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
    return;
  }
  if (config.render) {
    // Re-render the report of a saved run (e.g. after a report change) without running it again.
    const saved = JSON.parse(readFileSync(config.render, 'utf8')) as {
      config: BenchConfig;
      configLines: string[];
      results: ServerResult[];
    };
    writeReports(config.outDir, saved.config, saved.configLines, saved.results);
    console.log(`rendered ${config.render} into ${config.outDir}`);
    return;
  }
  if (config.list) {
    for (const s of SERVERS) console.log(`${s.name.padEnd(20)} ${s.runtime.padEnd(5)} ${s.label}`);
    return;
  }
  const unknown = config.only.filter((n) => !SERVERS.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`unknown server(s): ${unknown.join(', ')}; see --list\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const selected = config.only.length
    ? SERVERS.filter((s) => config.only.includes(s.name))
    : SERVERS;

  const packages = [...new Set(SERVERS.flatMap((s) => s.packages))].sort();
  const cpus = os.cpus();
  const configLines = [
    `date        ${new Date().toISOString()}`,
    `machine     ${cpus[0]?.model ?? 'unknown CPU'} x ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`,
    `runtimes    node ${process.version}; ${runtimeVersion('bun')}; ${runtimeVersion('deno')}`,
    `packages    ${packages.map((p) => `${p}@${packageVersion(p, appDir)}`).join(', ')}`,
    `load        ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )} (1/5/15-minute load average at start; other work on the machine skews throughput)`,
    `mode        ${config.quick ? 'quick' : 'full'}${config.pin ? ', pinned (server CPU 0, load generators CPU 1)' : ''}${config.only.length ? `, only ${config.only.join(',')}` : ''}${config.phases.length ? `, phases ${config.phases.join(',')}` : ''}`,
    `clients     ${config.clients} over ${Math.ceil(config.clients / config.clientsPerWorker)} load-generator processes (${config.clientsPerWorker} each, ${config.connectBatch} connects at a time), ${config.groups} groups`,
    `payload     ~${config.payloadSize + 40} bytes of JSON data per event`,
    `burst       ${config.burstEvents} broadcasts at once, ${config.burstRepeats} run(s), median reported; ${config.warmupEvents} warm-up broadcasts first`,
    `steady      ${config.steadyRate} broadcasts/s for ${config.steadyDurationMs / 1000} s`,
    `unicast     ${config.unicastRounds} round(s) of one event to each client, ${config.burstRepeats} run(s), median reported; ${config.warmupRuns} warm-up run(s) first`,
    `many        ${config.manyRounds} call(s) that send one event to all ${config.clients} clients, listed, ${config.burstRepeats} run(s), median reported; ${config.warmupRuns} warm-up run(s) first`,
    `group       ${config.groupRounds} round(s) of one event to each of ${config.groups} groups`,
    `repeat      pnpm bench${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  ];
  console.log('ssehub benchmark');
  for (const line of configLines) console.log(`  ${line}`);
  console.log('');

  const started = performance.now();
  // The servers of a family run at once, each with its clients, and take turns (see `turns`):
  // one step of one server, then one of the next, so that the floor and ssehub see the same
  // machine. Families, and servers of none, run one after another.
  const width = Math.max(...selected.map((spec) => spec.name.length));
  for (const [i, spec] of selected.entries()) {
    console.log(`[${i + 1}/${selected.length}] ${spec.name} — ${spec.label}`);
  }
  const results: ServerResult[] = [];
  const batches: ServerSpec[][] = [];
  for (const spec of selected) {
    const batch = spec.family && batches.find((b) => b[0]!.family === spec.family);
    if (batch) batch.push(spec);
    else batches.push([spec]);
  }
  for (const members of batches) {
    const turn = turns();
    const done = await Promise.all(
      members.map(async (spec) => {
        const log = (line: string) => console.log(`${spec.name.padEnd(width)} ${line.trimStart()}`);
        const result = await runServer(spec, { config, appDir, distDir, log, turn });
        if (result.status === 'skipped') log(`skipped: ${result.note}`);
        return result;
      }),
    );
    results.push(...done);
  }
  // In the order of SERVERS, as before.
  results.sort((a, b) => selected.indexOf(a.spec) - selected.indexOf(b.spec));

  const targets = checkTargets(results);
  console.log('');
  console.log(consoleTable(results));
  console.log('');
  console.log('targets');
  for (const line of targetLines(targets)) console.log(line);

  writeReports(config.outDir, config, configLines, results);
  console.log('');
  console.log(
    `wrote ${path.relative(process.cwd(), path.join(config.outDir, 'latest.md'))} (+ .svg, .json) in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}

/** Writes `latest.md`, `latest.svg` and `latest.json` into `outDir`. */
function writeReports(
  outDir: string,
  config: BenchConfig,
  configLines: string[],
  results: ServerResult[],
): void {
  const targets = checkTargets(results);
  mkdirSync(outDir, { recursive: true });
  const subtitle = `${config.clients} clients, burst of ${config.burstEvents} broadcasts · ${configLines.find((l) => l.startsWith('runtimes'))?.slice(12) ?? ''} · ${os.cpus().length} cores`;
  writeFileSync(path.join(outDir, 'latest.md'), markdown(results, configLines, targets));
  writeFileSync(path.join(outDir, 'latest.svg'), svgChart(results, subtitle));
  writeFileSync(
    path.join(outDir, 'latest.json'),
    `${JSON.stringify({ config, configLines, results, targets }, null, 2)}\n`,
  );
}

await main();
