/** Benchmark configuration: defaults, `--quick`, and command-line overrides. */

export interface BenchConfig {
  quick: boolean;
  /** Server names to run (all when empty). */
  only: string[];
  clients: number;
  /** Clients per load-generator process (each process is capped at 20 000 open files). */
  clientsPerWorker: number;
  /** Connections opened concurrently per worker before waiting for their heads. */
  connectBatch: number;
  groups: number;
  /** Bytes of padding in each event's data (the JSON adds ~40 more). */
  payloadSize: number;
  warmupEvents: number;
  burstEvents: number;
  /** Runs of each burst, unicast and many phase; the median run is reported. */
  burstRepeats: number;
  /**
   * Unmeasured runs of the unicast and many phases before the measured ones: the first runs of a
   * process are slower (code not yet optimised, young generation still growing), by more than
   * the difference being measured.
   */
  warmupRuns: number;
  steadyRate: number;
  steadyDurationMs: number;
  unicastRounds: number;
  /** Calls of `sendMany` to every client (one event each). */
  manyRounds: number;
  groupRounds: number;
  /** Upper bound for one phase to deliver everything. */
  phaseTimeoutMs: number;
  /** Longest wait for the machine to be quiet (other processes < 15 % CPU) before each server. */
  quietWaitMs: number;
  /** Idle time after connecting before memory is read. */
  settleMs: number;
  /** Connections opened and closed before the memory baseline (see `warmUpConnections`). */
  memoryWarmClients: number;
  outDir: string;
  /** Write a V8 CPU profile of each Node server (`--cpu-prof`) and print its hottest frames. */
  profile: boolean;
  /** Measured phases to run (all when empty): burst, unicast, many, group, steady. */
  phases: string[];
  /** Pin the server to CPU 0 and the load generators to CPU 1 (`taskset`), once connected. */
  pin: boolean;
}

export const PHASES = ['burst', 'unicast', 'many', 'group', 'steady'] as const;

export const FULL: Omit<BenchConfig, 'only' | 'outDir' | 'phases'> = {
  quick: false,
  profile: false,
  pin: false,
  clients: 10_000,
  clientsPerWorker: 5_000,
  connectBatch: 500,
  groups: 100,
  payloadSize: 64,
  warmupEvents: 10,
  burstEvents: 50,
  burstRepeats: 3,
  warmupRuns: 2,
  steadyRate: 10,
  steadyDurationMs: 10_000,
  unicastRounds: 10,
  manyRounds: 10,
  groupRounds: 20,
  phaseTimeoutMs: 45_000,
  settleMs: 1_000,
  memoryWarmClients: 1_000,
  quietWaitMs: 10_000,
};

export const QUICK: Omit<BenchConfig, 'only' | 'outDir' | 'phases'> = {
  ...FULL,
  quick: true,
  clients: 1_000,
  clientsPerWorker: 500,
  groups: 10,
  warmupEvents: 5,
  burstEvents: 20,
  burstRepeats: 1,
  warmupRuns: 1,
  steadyDurationMs: 2_000,
  unicastRounds: 3,
  manyRounds: 3,
  groupRounds: 10,
  phaseTimeoutMs: 20_000,
  settleMs: 300,
  memoryWarmClients: 100,
  quietWaitMs: 5_000,
};

const NUMERIC: Record<string, keyof BenchConfig> = {
  '--clients': 'clients',
  '--per-worker': 'clientsPerWorker',
  '--batch': 'connectBatch',
  '--groups': 'groups',
  '--size': 'payloadSize',
  '--burst': 'burstEvents',
  '--repeats': 'burstRepeats',
  '--warmup-runs': 'warmupRuns',
  '--rate': 'steadyRate',
  '--steady-ms': 'steadyDurationMs',
  '--unicast-rounds': 'unicastRounds',
  '--many-rounds': 'manyRounds',
  '--group-rounds': 'groupRounds',
  '--timeout-ms': 'phaseTimeoutMs',
  '--quiet-wait-ms': 'quietWaitMs',
};

export const USAGE = `Usage: pnpm bench [--quick] [--only name,name] [--phases ${PHASES.join(',')}] [--list] [--profile] [--pin] [--out dir] [--render run.json]
  ${Object.keys(NUMERIC).join(' N, ')} N`;

/** Parses argv (without node and script). Throws on unknown flags. */
export function parseArgs(
  argv: string[],
  defaultOutDir: string,
): BenchConfig & { list: boolean; render?: string } {
  const quick = argv.includes('--quick');
  const config: BenchConfig & { list: boolean; render?: string } = {
    ...(quick ? QUICK : FULL),
    only: [],
    phases: [],
    outDir: defaultOutDir,
    list: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick' || flag === '--') continue;
    if (flag === '--list') config.list = true;
    else if (flag === '--render') config.render = value();
    else if (flag === '--profile') config.profile = true;
    else if (flag === '--pin') config.pin = true;
    else if (flag === '--only') config.only = value().split(',').filter(Boolean);
    else if (flag === '--phases') {
      config.phases = value().split(',').filter(Boolean);
      const unknown = config.phases.filter((p) => !(PHASES as readonly string[]).includes(p));
      if (unknown.length) throw new Error(`unknown phase ${unknown.join(', ')}\n${USAGE}`);
    } else if (flag === '--out') config.outDir = value();
    else if (flag !== undefined && flag in NUMERIC) {
      const n = Number(value());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a number`);
      (config as unknown as Record<string, number>)[NUMERIC[flag]!] = n;
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  return config;
}
