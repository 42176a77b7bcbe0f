/** Messages between the harness and a load-generator worker process (IPC, structured clone). */

export interface ConnectCommand {
  type: 'connect';
  host: string;
  port: number;
  /** Global index of this worker's first client; client i gets id `c<i>`. */
  firstId: number;
  count: number;
  /** Clients opened concurrently before waiting for their response heads. */
  batch: number;
  /** Number of groups; client i joins group `g<i % groups>`. */
  groups: number;
  /** Path prefix of the stream endpoint, e.g. `/sse`. */
  path: string;
  /**
   * `h2`: HTTP/2 without TLS (prior knowledge, node:http2's client), `streamsPerConnection`
   * streams on each connection. Default: one HTTP/1.1 connection per client.
   */
  protocol?: 'h1' | 'h2';
  streamsPerConnection?: number;
}

/** Starts a measurement: counters reset, the worker reports once every client got `perClient`. */
export interface ExpectCommand {
  type: 'expect';
  phase: string;
  /** Tag (`"k"`) of this phase's events; events of other phases are counted as stale. */
  tag: number;
  perClient: number;
}

/** Asks for the current result of the phase now (used on time-out). */
export interface CollectCommand {
  type: 'collect';
}

export interface CloseCommand {
  type: 'close';
}

export type WorkerCommand = ConnectCommand | ExpectCommand | CollectCommand | CloseCommand;

export interface ConnectedReport {
  type: 'connected';
  connected: number;
  failed: number;
  errors: string[];
}

export interface ProgressReport {
  type: 'progress';
  connected: number;
  failed: number;
}

export interface ReadyReport {
  type: 'ready';
  phase: string;
}

export interface PhaseResult {
  type: 'result';
  phase: string;
  /** Events received with a timestamp since `expect`. */
  received: number;
  expected: number;
  /** Per-event latency in ms (receive time minus embedded send time). */
  latencies: Float64Array;
  firstReceiveAt: number;
  lastReceiveAt: number;
  /** CPU time (user + system, µs) this worker used since `expect`. */
  cpuMicros: number;
  /** Events of earlier phases that arrived during this one (a server still catching up). */
  stale: number;
  /** Connections closed by the server or failed during the phase. */
  closed: number;
  complete: boolean;
}

export type WorkerReport = ConnectedReport | ProgressReport | ReadyReport | PhaseResult;
