/**
 * Churn: many connect/disconnect cycles against `fixtures/hub-server.ts` (run with --expose-gc),
 * mixing the ways a client leaves: a reset (RST) after the `connected` event, a clean close
 * (FIN), a destroy, a reset while the request is still being answered, and a request cut off in
 * the middle of its headers. A few long-lived streams stay open throughout, so listeners that
 * pile up on live sockets would show.
 */

import { connect } from 'node:net';
import { openSse, type SseClient } from '../harness/http.js';
import { startFixture } from '../harness/processes.js';
import type { ServerStats } from '../harness/protocol.js';
import { report, until } from '../harness/report.js';

export interface ChurnOptions {
  readonly cycles: number;
  readonly concurrency: number;
  /** Stop early (and fail) past this. */
  readonly maxMs: number;
}

export interface ChurnResult {
  readonly cycles: number;
  readonly byMode: Record<Mode, number>;
  readonly failures: number;
  readonly elapsedMs: number;
  readonly perSecond: number;
  /** Empty server (no stream ever opened), after GC. */
  readonly idle: ServerStats;
  /** After warm-up, with the long-lived streams open, after GC. */
  readonly baseline: ServerStats;
  /** After the churn, long-lived streams still open, after GC. */
  readonly after: ServerStats;
  /** After the long-lived streams closed too. */
  readonly empty: ServerStats;
  readonly heapRatio: number;
}

const MODES = ['reset', 'clean-close', 'destroy', 'reset-early', 'cut-headers'] as const;
export type Mode = (typeof MODES)[number];
const LONG_LIVED = 8;
const BASE = '/api/v1/sse';

/** One cycle; resolves when the client side is done (true when it went as planned). */
function cycle(port: number, n: number, mode: Mode): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!socket.destroyed) socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 10_000);
    socket.on('error', () => finish(mode === 'reset-early' || mode === 'cut-headers'));
    socket.on('close', () => finish(mode !== 'clean-close' || received.includes('connected')));
    socket.on('connect', () => {
      const request = `GET ${BASE}/stream/g${n % 16}/c${n} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`;
      if (mode === 'cut-headers') {
        socket.write(request.slice(0, 30 + (n % 40)));
        setImmediate(() => {
          socket.resetAndDestroy();
          finish(true);
        });
        return;
      }
      socket.write(request);
      if (mode === 'reset-early') {
        setImmediate(() => {
          socket.resetAndDestroy();
          finish(true);
        });
      }
    });
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      if (!received.includes('event: connected')) return;
      switch (mode) {
        case 'reset':
          socket.resetAndDestroy();
          finish(true);
          break;
        case 'clean-close':
          // FIN, then wait for the server to close its side.
          if (!socket.writableEnded) socket.end();
          break;
        case 'destroy':
          socket.destroy();
          finish(true);
          break;
      }
    });
  });
}

export async function runChurn(options: ChurnOptions): Promise<ChurnResult> {
  const server = await startFixture({ nodeFlags: ['--expose-gc'] });
  const longLived: SseClient[] = [];
  try {
    const idle = await server.request<ServerStats>({ cmd: 'gc' });
    for (let i = 0; i < LONG_LIVED; i++) {
      const client = openSse(server.port, `${BASE}/stream/long/l${i}`);
      longLived.push(client);
      await client.waitFor(() => client.events.length > 0, 10_000, 'connected');
    }
    const byMode = Object.fromEntries(MODES.map((m) => [m, 0])) as Record<Mode, number>;
    let failures = 0;
    const run = async (total: number, deadline: number) => {
      let next = 0;
      const worker = async () => {
        while (next < total && Date.now() < deadline) {
          const n = next++;
          const mode = MODES[n % MODES.length]!;
          if (await cycle(server.port, n, mode)) byMode[mode]++;
          else failures++;
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      return next;
    };
    const settle = () =>
      until(
        async () => {
          const s = await server.stats();
          return s.info.connectionCount === LONG_LIVED && s.sockets === LONG_LIVED;
        },
        30_000,
        'the churned connections to be gone',
      );

    // Warm-up: JIT, pools and lazily created structures settle before the baseline.
    await run(Math.min(2_000, options.cycles), Date.now() + options.maxMs);
    await settle();
    const baseline = await server.request<ServerStats>({ cmd: 'gc' });
    for (const mode of MODES) byMode[mode] = 0;
    failures = 0;

    const started = Date.now();
    const done = await run(options.cycles, started + options.maxMs);
    const elapsedMs = Date.now() - started;
    await settle();
    const after = await server.request<ServerStats>({ cmd: 'gc' });
    for (const client of longLived) client.end();
    await until(
      async () => (await server.stats()).sockets === 0,
      10_000,
      'the long-lived streams to close',
    );
    const empty = await server.request<ServerStats>({ cmd: 'gc' });
    const heapRatio = after.memory.heapUsed / baseline.memory.heapUsed;
    const result: ChurnResult = {
      cycles: done,
      byMode,
      failures,
      elapsedMs,
      perSecond: (done / elapsedMs) * 1000,
      idle,
      baseline,
      after,
      empty,
      heapRatio,
    };
    report('churn', `${done} connect/disconnect cycles, concurrency ${options.concurrency}`, {
      seconds: elapsedMs / 1000,
      perSecond: result.perSecond,
      byMode,
      failures,
      hubConnectionsAfter: after.info.connectionCount - LONG_LIVED,
      socketsAfter: after.sockets - LONG_LIVED,
      drainListeners: `${baseline.drainListeners} -> ${after.drainListeners}`,
      closeListeners: `${baseline.closeListeners} -> ${after.closeListeners}`,
      resources: `${JSON.stringify(baseline.resources)} -> ${JSON.stringify(after.resources)}`,
      timers: `${JSON.stringify(baseline.timers)} -> ${JSON.stringify(after.timers)}`,
      timersWhenEmpty: `${JSON.stringify(idle.timers)} -> ${JSON.stringify(empty.timers)}`,
      heapMB: `${(baseline.memory.heapUsed / 2 ** 20).toFixed(2)} -> ${(after.memory.heapUsed / 2 ** 20).toFixed(2)}`,
      heapRatio,
      responsesCollected: `${after.responsesCollected}/${after.responsesCreated}`,
    });
    return result;
  } finally {
    for (const client of longLived) client.reset();
    await server.kill();
  }
}
