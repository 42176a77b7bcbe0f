/** Runs one server under test through every phase and returns its figures. */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { PhaseResult } from '../loadgen/protocol.js';
import type { MemoryStats } from '../servers/control.js';
import type { BenchConfig } from './config.js';
import { LoadGenerator } from './loadgen.js';
import { pinToCpu, waitForQuiet } from './machine.js';
import { readNewestProfile, type SelfTime, selfTimes } from './profile.js';
import { type ServerProcess, startServer } from './server-process.js';
import { runtimeArgs, runtimeBinary, type ServerSpec, STREAMS_PER_CONNECTION } from './servers.js';
import { median, summarizeLatencies } from './stats.js';

export interface PhaseMetrics {
  received: number;
  expected: number;
  /** Deliveries per second from the first send to the last receipt. */
  rate: number;
  p50: number;
  p99: number;
  max: number;
  ms: number;
  /** Server CPU time (user + system) per delivery, in µs: robust to other load on the machine. */
  cpuPerDelivery: number;
  /** Of which in the kernel (system time): for most servers, the socket writes. */
  systemCpuPerDelivery: number;
  /** Events of earlier phases that arrived during this one (the server was still catching up). */
  stale: number;
  /** Load generators' CPU time per delivery, in µs (all worker processes together). */
  loadgenCpuPerDelivery: number;
}

export interface ServerResult {
  spec: ServerSpec;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  clients?: number;
  connectMs?: number;
  baseline?: MemoryStats;
  loaded?: MemoryStats;
  rssPerClient?: number;
  heapPerClient?: number;
  burst?: PhaseMetrics;
  burstRuns?: PhaseMetrics[];
  steady?: PhaseMetrics;
  unicast?: PhaseMetrics;
  /** One event to every client in one call (`sendMany`), `manyRounds` times. */
  many?: PhaseMetrics;
  group?: PhaseMetrics;
  /** Share of the machine (0..1) other processes used just before this server started. */
  backgroundCpu?: number;
  /** Hottest frames of the server's CPU profile (`--profile`, Node servers). */
  profile?: SelfTime[];
}

export interface RunContext {
  config: BenchConfig;
  /** The app directory (cwd for servers). */
  appDir: string;
  /** `dist/` of this app. */
  distDir: string;
  log: (line: string) => void;
  /**
   * Runs `step` when no other server's step is running, in the order asked (see `turns`): the
   * servers of one family are measured in turns, each step of one between steps of the others.
   */
  turn: <T>(step: () => Promise<T>) => Promise<T>;
}

/**
 * A first-in, first-out lock. Servers that run at the same time (the servers of a family, each
 * with its clients connected) take turns: a measured run of one server, then one of the next. The machine
 * is shared and its speed drifts by a third over seconds; runs of the floor and of ssehub that
 * alternate see the same drift, where a whole series of one server after the other did not.
 */
export function turns(): <T>(step: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (step) => {
    const run = tail.then(step, step);
    tail = run.catch(() => undefined);
    return run;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function metrics(
  startedAt: number,
  results: PhaseResult[],
  cpu: { micros: number; system: number },
): PhaseMetrics {
  let received = 0;
  let expected = 0;
  let last = startedAt;
  for (const r of results) {
    received += r.received;
    expected += r.expected;
    if (r.received > 0) last = Math.max(last, r.lastReceiveAt);
  }
  const lat = summarizeLatencies(results.map((r) => r.latencies));
  const ms = last - startedAt;
  return {
    received,
    expected,
    rate: ms > 0 ? (received / ms) * 1000 : Number.NaN,
    p50: lat.p50,
    p99: lat.p99,
    max: lat.max,
    ms,
    cpuPerDelivery: received > 0 ? cpu.micros / received : Number.NaN,
    systemCpuPerDelivery: received > 0 ? cpu.system / received : Number.NaN,
    stale: results.reduce((sum, r) => sum + r.stale, 0),
    loadgenCpuPerDelivery:
      received > 0 ? results.reduce((sum, r) => sum + r.cpuMicros, 0) / received : Number.NaN,
  };
}

function describe(m: PhaseMetrics): string {
  const missing = m.expected - m.received;
  return (
    `${Math.round(m.rate).toLocaleString('en-US')}/s, p50 ${m.p50.toFixed(2)} ms, ` +
    `p99 ${m.p99.toFixed(2)} ms, CPU µs/delivery server ${m.cpuPerDelivery.toFixed(2)} (kernel ${m.systemCpuPerDelivery.toFixed(2)}) load-gen ${m.loadgenCpuPerDelivery.toFixed(2)}${m.stale > 0 ? `, ${m.stale} late events of earlier phases` : ''}${missing > 0 ? `, MISSING ${missing}/${m.expected}` : ''}`
  );
}

export async function runServer(spec: ServerSpec, ctx: RunContext): Promise<ServerResult> {
  const { config, log } = ctx;
  const binary = runtimeBinary(spec.runtime);
  if (!binary) {
    return { spec, status: 'skipped', note: `${spec.runtime} binary not found` };
  }
  const script = path.join(ctx.distDir, 'servers', `${spec.script}.js`);
  let server: ServerProcess | undefined;
  const loadgen = new LoadGenerator(
    path.join(ctx.distDir, 'loadgen', 'worker.js'),
    config.clients,
    config.clientsPerWorker,
  );
  const result: ServerResult = { spec, status: 'ok' };
  const profileDir =
    config.profile && spec.runtime === 'node'
      ? path.resolve(config.outDir, 'profiles', spec.name)
      : undefined;
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  try {
    // Start, connect and read memory in one turn.
    await ctx.turn(async () => {
      // Other work on the machine skews every figure but CPU per delivery: wait a little for quiet.
      result.backgroundCpu = await waitForQuiet(0.15, config.quietWaitMs);
      if (result.backgroundCpu > 0.15) {
        log(
          `  note: the machine is ${(result.backgroundCpu * 100).toFixed(0)}% busy with other work`,
        );
      }
      server = await startServer(binary, runtimeArgs(spec.runtime, script, profileDir), ctx.appDir);
      await warmUpConnections(server, spec, config, path.join(ctx.distDir, 'loadgen', 'worker.js'));
      await sleep(config.settleMs);
      result.baseline = (await server.stats()).memory;

      // Connect.
      let lastShown = 0;
      const outcome = await loadgen.connect(
        server.streamPort,
        {
          batch: config.connectBatch,
          groups: config.groups,
          path: spec.streamPath ?? '/sse',
          timeoutMs: 180_000,
          protocol: spec.protocol,
          streamsPerConnection: STREAMS_PER_CONNECTION,
        },
        (n) => {
          if (n - lastShown >= config.clients / 4 || n === config.clients) {
            lastShown = n;
            log(`  connecting ${n}/${config.clients}`);
          }
        },
      );
      result.clients = outcome.connected;
      result.connectMs = outcome.ms;
      if (outcome.connected < config.clients) {
        throw new Error(
          `only ${outcome.connected}/${config.clients} clients connected (${outcome.errors.join('; ')})`,
        );
      }
      // The server may register a client a moment after its head went out.
      for (let i = 0; i < 50; i++) {
        const { clients } = await server.call<{ clients: number }>('/bench/clients');
        if (clients >= config.clients) break;
        await sleep(100);
      }

      if (config.pin) {
        // One core for the server, one for the load generators: less scheduler noise between them.
        const pinned =
          pinToCpu(server.child.pid, 0) && loadgen.pids().every((pid) => pinToCpu(pid, 1));
        if (!pinned) log('  note: --pin failed (is taskset installed?); running unpinned');
      }

      // Memory per connection.
      await sleep(config.settleMs);
      result.loaded = (await server.stats()).memory;
      result.rssPerClient = (result.loaded.rss - result.baseline.rss) / outcome.connected;
      result.heapPerClient =
        (result.loaded.heapUsed - result.baseline.heapUsed) / outcome.connected;
      log(
        `  ${outcome.connected} connected in ${(outcome.ms / 1000).toFixed(1)} s; ` +
          `RSS ${(result.rssPerClient / 1024).toFixed(1)} KiB/conn, heap ${(result.heapPerClient / 1024).toFixed(1)} KiB/conn`,
      );
    });

    const size = config.payloadSize;
    const timeout = config.phaseTimeoutMs;
    let tag = 0;
    /** Runs one phase; false (and a note) when it did not complete, which ends this server's run. */
    const measure = async (
      name: string,
      perClient: number,
      phaseTimeout: number,
      path: string,
      params: Record<string, number>,
    ): Promise<PhaseMetrics | undefined> =>
      ctx.turn(async () => {
        const phaseTag = ++tag;
        const cpu = () => server!.call<{ micros: number; system?: number }>('/bench/cpu');
        const cpuBefore = await cpu();
        const { trigger, results } = await loadgen.phase(
          name,
          phaseTag,
          perClient,
          phaseTimeout,
          () => server!.call<{ startedAt: number }>(path, { ...params, size, tag: phaseTag }),
        );
        const cpuAfter = await cpu();
        const m = metrics(trigger.startedAt, results, {
          micros: cpuAfter.micros - cpuBefore.micros,
          system: (cpuAfter.system ?? Number.NaN) - (cpuBefore.system ?? Number.NaN),
        });
        if (m.received < m.expected) {
          gaveUp = `${name} delivered ${m.received}/${m.expected} within ${Math.round(phaseTimeout / 1000)} s; later phases skipped`;
        }
        return m;
      });
    let gaveUp: string | undefined;
    const runs = (phase: string) =>
      !gaveUp && (config.phases.length === 0 || config.phases.includes(phase));

    /**
     * Runs a measured phase `burstRepeats` times and returns the median run by throughput: a phase
     * of about a second swings by a third from run to run on a shared machine. Each run has a
     * phase name of its own, so a late report of one is never taken for the next. With
     * `slowMs`, a run slower than that ends the series (a slow server gets one run, not three).
     * `warmups` unmeasured runs go first.
     */
    const repeated = async (
      name: string,
      label: string,
      perClient: number,
      path: string,
      params: Record<string, number>,
      { slowMs = Number.POSITIVE_INFINITY, warmups = 0 } = {},
    ): Promise<{ runs: PhaseMetrics[]; median: PhaseMetrics | undefined }> => {
      for (let i = 0; i < warmups && runs(name); i++) {
        const m = await measure(`${name}-warmup${i}`, perClient, timeout, path, params);
        if (m) log(`  ${label} warm-up ${i + 1}/${warmups} (not counted): ${describe(m)}`);
        await sleep(200);
      }
      const done: PhaseMetrics[] = [];
      for (let i = 0; i < config.burstRepeats && runs(name); i++) {
        const m = await measure(`${name}${i}`, perClient, timeout, path, params);
        if (!m) break;
        done.push(m);
        log(`  ${label} ${i + 1}/${config.burstRepeats}: ${describe(m)}`);
        if (m.ms > slowMs) break;
        await sleep(200);
      }
      const mid = median(done.map((m) => m.rate));
      return { runs: done, median: done.find((m) => m.rate === mid) ?? done[0] };
    };

    // Warm-up (not measured), then bursts; a slow server gets one burst, not three.
    await measure('warmup', config.warmupEvents, timeout, '/bench/broadcast', {
      n: config.warmupEvents,
    });
    const bursts = await repeated(
      'burst',
      'burst',
      config.burstEvents,
      '/bench/broadcast',
      { n: config.burstEvents },
      { slowMs: 10_000 },
    );
    result.burstRuns = bursts.runs;
    result.burst = bursts.median;

    // Unicast to distinct clients.
    if (runs('unicast')) {
      result.unicast = (
        await repeated(
          'unicast',
          'unicast',
          config.unicastRounds,
          '/bench/unicast',
          {
            clients: config.clients,
            groups: config.groups,
            rounds: config.unicastRounds,
          },
          { warmups: config.warmupRuns },
        )
      ).median;
    }

    // One call per round listing every client.
    if (runs('many')) {
      result.many = (
        await repeated(
          'many',
          `many (${config.clients} clients per call)`,
          config.manyRounds,
          '/bench/many',
          { clients: config.clients, groups: config.groups, rounds: config.manyRounds },
          { warmups: config.warmupRuns },
        )
      ).median;
    }

    // Group fan-out.
    if (runs('group')) {
      result.group = await measure('group', config.groupRounds, timeout, '/bench/group', {
        groups: config.groups,
        rounds: config.groupRounds,
      });
      if (result.group) log(`  group (${config.groups} groups): ${describe(result.group)}`);
    }

    // Steady rate, last: a server that cannot keep up with it falls behind for good.
    if (runs('steady')) {
      const steadyEvents = Math.round((config.steadyDurationMs / 1000) * config.steadyRate);
      result.steady = await measure(
        'steady',
        steadyEvents,
        config.steadyDurationMs + timeout,
        '/bench/steady',
        { rate: config.steadyRate, duration: config.steadyDurationMs },
      );
      if (result.steady) log(`  steady ${config.steadyRate}/s: ${describe(result.steady)}`);
    }
    if (gaveUp) {
      result.note = gaveUp;
      log(`  gave up: ${gaveUp}`);
    }
  } catch (err) {
    result.status = 'failed';
    const stderr = server?.stderr().trim();
    result.note = `${err instanceof Error ? err.message : String(err)}${stderr ? ` | stderr: ${stderr.slice(-500)}` : ''}`;
    log(`  FAILED: ${result.note}`);
  } finally {
    // Server first, so the server side holds the TIME_WAIT sockets, not the clients' ports.
    await ctx.turn(async () => {
      await server?.stop();
      await loadgen.close();
    });
  }
  if (profileDir) {
    const profile = readNewestProfile(profileDir);
    if (profile) {
      result.profile = selfTimes(profile).slice(0, 15);
      log(`  CPU profile (self time, share of busy time) in ${profileDir}:`);
      for (const row of result.profile.slice(0, 10)) {
        log(`    ${(row.share * 100).toFixed(1).padStart(5)}%  ${row.frame}`);
      }
    }
  }
  return result;
}

/**
 * Opens and closes `memoryWarmClients` connections before the memory baseline is read. A process
 * grows once as it serves its first connections (V8 sizes its young generation for the load, the
 * JIT compiles the connect path, malloc keeps what those used): that growth is not per connection,
 * and counted in the 10 000 connections it inflated RSS per connection by ~2 KiB, by a different
 * amount for each server. After the warm-up the baseline holds it, and what connecting adds is
 * what each connection costs.
 */
async function warmUpConnections(
  server: ServerProcess,
  spec: ServerSpec,
  config: BenchConfig,
  workerScript: string,
): Promise<void> {
  if (config.memoryWarmClients <= 0) return;
  const warm = new LoadGenerator(workerScript, config.memoryWarmClients, config.memoryWarmClients);
  try {
    await warm.connect(
      server.streamPort,
      {
        batch: config.connectBatch,
        groups: config.groups,
        path: spec.streamPath ?? '/sse',
        timeoutMs: 60_000,
        protocol: spec.protocol,
        streamsPerConnection: STREAMS_PER_CONNECTION,
      },
      () => {},
    );
  } finally {
    await warm.close();
  }
  for (let i = 0; i < 50; i++) {
    const { clients } = await server.call<{ clients: number }>('/bench/clients');
    if (clients === 0) break;
    await sleep(100);
  }
}
