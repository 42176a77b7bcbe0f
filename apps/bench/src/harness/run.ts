/** Runs one server under test through every phase and returns its figures. */
import path from 'node:path';
import type { PhaseResult } from '../loadgen/protocol.js';
import type { MemoryStats } from '../servers/control.js';
import type { BenchConfig } from './config.js';
import { LoadGenerator } from './loadgen.js';
import { type ServerProcess, startServer } from './server-process.js';
import { runtimeArgs, runtimeBinary, type ServerSpec } from './servers.js';
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
  group?: PhaseMetrics;
}

export interface RunContext {
  config: BenchConfig;
  /** The app directory (cwd for servers). */
  appDir: string;
  /** `dist/` of this app. */
  distDir: string;
  log: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function metrics(startedAt: number, results: PhaseResult[]): PhaseMetrics {
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
  };
}

function describe(m: PhaseMetrics): string {
  const missing = m.expected - m.received;
  return (
    `${Math.round(m.rate).toLocaleString('en-US')}/s, p50 ${m.p50.toFixed(2)} ms, ` +
    `p99 ${m.p99.toFixed(2)} ms${missing > 0 ? `, MISSING ${missing}/${m.expected}` : ''}`
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
  try {
    server = await startServer(binary, runtimeArgs(spec.runtime, script), ctx.appDir);
    await sleep(config.settleMs);
    result.baseline = (await server.stats()).memory;

    // Connect.
    let lastShown = 0;
    const outcome = await loadgen.connect(
      server.port,
      {
        batch: config.connectBatch,
        groups: config.groups,
        path: spec.streamPath ?? '/sse',
        timeoutMs: 180_000,
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

    // Memory per connection.
    await sleep(config.settleMs);
    result.loaded = (await server.stats()).memory;
    result.rssPerClient = (result.loaded.rss - result.baseline.rss) / outcome.connected;
    result.heapPerClient = (result.loaded.heapUsed - result.baseline.heapUsed) / outcome.connected;
    log(
      `  ${outcome.connected} connected in ${(outcome.ms / 1000).toFixed(1)} s; ` +
        `RSS ${(result.rssPerClient / 1024).toFixed(1)} KiB/conn, heap ${(result.heapPerClient / 1024).toFixed(1)} KiB/conn`,
    );

    const size = config.payloadSize;
    const timeout = config.phaseTimeoutMs;
    const broadcast = (name: string, n: number) =>
      loadgen.phase(name, n, timeout, () =>
        server!.call<{ startedAt: number }>('/bench/broadcast', { n, size }),
      );

    // Warm-up (not measured), then bursts.
    await broadcast('warmup', config.warmupEvents);
    result.burstRuns = [];
    for (let i = 0; i < config.burstRepeats; i++) {
      const { trigger, results } = await broadcast(`burst${i}`, config.burstEvents);
      const m = metrics(trigger.startedAt, results);
      result.burstRuns.push(m);
      log(`  burst ${i + 1}/${config.burstRepeats}: ${describe(m)}`);
      await sleep(200);
    }
    const rates = result.burstRuns.map((m) => m.rate);
    const mid = median(rates);
    result.burst = result.burstRuns.find((m) => m.rate === mid) ?? result.burstRuns[0];

    // Steady rate.
    const steadyEvents = Math.round((config.steadyDurationMs / 1000) * config.steadyRate);
    {
      const { trigger, results } = await loadgen.phase(
        'steady',
        steadyEvents,
        config.steadyDurationMs + timeout,
        () =>
          server!.call<{ startedAt: number }>('/bench/steady', {
            rate: config.steadyRate,
            duration: config.steadyDurationMs,
            size,
          }),
      );
      result.steady = metrics(trigger.startedAt, results);
      log(`  steady ${config.steadyRate}/s: ${describe(result.steady)}`);
    }

    // Unicast to distinct clients.
    {
      const { trigger, results } = await loadgen.phase(
        'unicast',
        config.unicastRounds,
        timeout,
        () =>
          server!.call<{ startedAt: number }>('/bench/unicast', {
            clients: config.clients,
            groups: config.groups,
            rounds: config.unicastRounds,
            size,
          }),
      );
      result.unicast = metrics(trigger.startedAt, results);
      log(`  unicast: ${describe(result.unicast)}`);
    }

    // Group fan-out.
    {
      const { trigger, results } = await loadgen.phase('group', config.groupRounds, timeout, () =>
        server!.call<{ startedAt: number }>('/bench/group', {
          groups: config.groups,
          rounds: config.groupRounds,
          size,
        }),
      );
      result.group = metrics(trigger.startedAt, results);
      log(`  group (${config.groups} groups): ${describe(result.group)}`);
    }
  } catch (err) {
    result.status = 'failed';
    const stderr = server?.stderr().trim();
    result.note = `${err instanceof Error ? err.message : String(err)}${stderr ? ` | stderr: ${stderr.slice(-500)}` : ''}`;
    log(`  FAILED: ${result.note}`);
  } finally {
    // Server first, so the server side holds the TIME_WAIT sockets, not the clients' ports.
    await server?.stop();
    await loadgen.close();
  }
  return result;
}
