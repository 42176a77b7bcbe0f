/** Drives the load-generator worker processes (see `src/loadgen/worker.ts`). */
import { type ChildProcess, fork } from 'node:child_process';
import type {
  ConnectedReport,
  PhaseResult,
  WorkerCommand,
  WorkerReport,
} from '../loadgen/protocol.js';

function waitFor<T extends WorkerReport>(
  worker: ChildProcess,
  match: (r: WorkerReport) => r is T,
  timeoutMs: number,
): Promise<T | undefined> {
  return new Promise((resolve) => {
    const onMessage = (r: WorkerReport): void => {
      if (!match(r)) return;
      done(r);
    };
    const onExit = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (r: T | undefined): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(r);
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

export interface ConnectOutcome {
  connected: number;
  failed: number;
  errors: string[];
  ms: number;
}

export class LoadGenerator {
  private readonly workers: ChildProcess[] = [];

  /** Every live worker of every generator, for `killAll` on an interrupted run. */
  static readonly live = new Set<ChildProcess>();

  /** Kills every worker still running (SIGINT/SIGTERM of the harness). */
  static killAll(): void {
    for (const w of LoadGenerator.live) w.kill('SIGKILL');
  }

  constructor(
    private readonly workerScript: string,
    private readonly clients: number,
    private readonly perWorker: number,
  ) {}

  /** Forks the workers and opens every client; `onProgress` gets the running total. */
  async connect(
    port: number,
    opts: {
      batch: number;
      groups: number;
      path: string;
      timeoutMs: number;
      protocol?: 'h2' | undefined;
      streamsPerConnection?: number;
    },
    onProgress: (connected: number) => void,
  ): Promise<ConnectOutcome> {
    const started = performance.now();
    const count = Math.ceil(this.clients / this.perWorker);
    const progress = new Array<number>(count).fill(0);
    const waits: Promise<ConnectedReport | undefined>[] = [];
    for (let w = 0; w < count; w++) {
      const worker = fork(this.workerScript, [], {
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: [],
      });
      this.workers.push(worker);
      LoadGenerator.live.add(worker);
      worker.once('exit', () => LoadGenerator.live.delete(worker));
      worker.on('message', (r: WorkerReport) => {
        if (r.type === 'progress') {
          progress[w] = r.connected;
          onProgress(progress.reduce((a, b) => a + b, 0));
        }
      });
      const firstId = w * this.perWorker;
      const n = Math.min(this.perWorker, this.clients - firstId);
      waits.push(
        waitFor(worker, (r): r is ConnectedReport => r.type === 'connected', opts.timeoutMs),
      );
      this.send(worker, {
        type: 'connect',
        host: '127.0.0.1',
        port,
        firstId,
        count: n,
        batch: opts.batch,
        groups: opts.groups,
        path: opts.path,
        ...(opts.protocol ? { protocol: opts.protocol } : {}),
        ...(opts.streamsPerConnection ? { streamsPerConnection: opts.streamsPerConnection } : {}),
      });
    }
    const reports = await Promise.all(waits);
    const outcome: ConnectOutcome = { connected: 0, failed: 0, errors: [], ms: 0 };
    reports.forEach((r, i) => {
      if (!r) {
        outcome.errors.push(`worker ${i} did not finish connecting`);
        return;
      }
      outcome.connected += r.connected;
      outcome.failed += r.failed;
      outcome.errors.push(...r.errors);
    });
    outcome.ms = performance.now() - started;
    return outcome;
  }

  /**
   * Runs one measured phase: workers reset and expect `perClient` events per client, `trigger`
   * makes the server send, and the results come back once complete or after `timeoutMs`.
   */
  async phase<T>(
    name: string,
    tag: number,
    perClient: number,
    timeoutMs: number,
    trigger: () => Promise<T>,
  ): Promise<{ trigger: T; results: PhaseResult[] }> {
    const ready = this.workers.map((w) =>
      waitFor(w, (r): r is WorkerReport => r.type === 'ready' && r.phase === name, 10_000),
    );
    for (const w of this.workers) this.send(w, { type: 'expect', phase: name, tag, perClient });
    await Promise.all(ready);
    const results = this.workers.map((w) =>
      waitFor(w, (r): r is PhaseResult => r.type === 'result' && r.phase === name, timeoutMs),
    );
    const triggered = await trigger();
    let collected = await Promise.all(results);
    if (collected.some((r) => r === undefined)) {
      // Time-out: take what arrived so far.
      const late = this.workers.map((w, i) =>
        collected[i]
          ? Promise.resolve(collected[i])
          : waitFor(w, (r): r is PhaseResult => r.type === 'result' && r.phase === name, 5_000),
      );
      for (const w of this.workers) this.send(w, { type: 'collect' });
      collected = await Promise.all(late);
    }
    return { trigger: triggered, results: collected.filter((r): r is PhaseResult => !!r) };
  }

  /** Process ids of the workers. */
  pids(): (number | undefined)[] {
    return this.workers.map((w) => w.pid);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            const timer = setTimeout(() => w.kill('SIGKILL'), 3_000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            this.send(w, { type: 'close' });
          }),
      ),
    );
    this.workers.length = 0;
  }

  private send(worker: ChildProcess, cmd: WorkerCommand): void {
    if (worker.connected) worker.send(cmd);
  }
}
