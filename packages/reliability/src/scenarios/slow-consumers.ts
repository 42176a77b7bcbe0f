/**
 * Slow consumers: fast clients read a continuous broadcast while slow clients never read.
 *
 * The server is `fixtures/hub-server.ts` in its own process; the broadcast loop runs inside it
 * (`tick` events carrying the wall-clock time they were sent), so the fast clients' latency is
 * "read here" minus "sent there". Phases alternate in one server process: fast clients alone
 * (the baseline), then fast + slow clients, for a few rounds, and the p99 ratio is taken per
 * round and its median asserted, so a noisy neighbour on the box hits both sides of a ratio.
 *
 * Slow clients are raw sockets that send the GET and `pause()` at once. Node cannot shrink a
 * socket's receive buffer, and Linux autotunes a send buffer towards 4 MiB, so a paused client
 * would swallow ~4 MiB of kernel memory before the hub sees backpressure (4 GiB for 1 000 of them,
 * beyond tcp_mem on most machines). The server's listening socket therefore gets SO_SNDBUF =
 * 16 KiB (inherited by every accepted socket; see `harness/processes.ts`): a paused client then
 * holds ~100 KiB in the kernel and the hub's per-connection cap is reached within seconds.
 */

import { connect, type Socket } from 'node:net';
import { openSse, type SseClient } from '../harness/http.js';
import { type ServerProcess, startFixture } from '../harness/processes.js';
import type { CountersReply, Peaks, ServerStats } from '../harness/protocol.js';
import { median, percentile, report, sleep, until } from '../harness/report.js';

export interface SlowConsumerOptions {
  readonly fast: number;
  readonly slow: number;
  /** Baseline and loaded phase length, ms. */
  readonly phaseMs: number;
  readonly rounds: number;
  readonly policy: 'disconnect' | 'drop-oldest';
  /** The per-connection cap (SSE_MAX_QUEUED_EVENTS / SSE_MAX_QUEUED_BYTES). */
  readonly maxQueuedEvents: number;
  readonly maxQueuedBytes: number;
  /** Broadcasts per second and padding of each event. */
  readonly rate: number;
  readonly padBytes: number;
  /**
   * Each tick also sends a `bulk` event of this size to the slow clients' group (empty in the
   * baseline), so they reach the cap in seconds rather than minutes of broadcasts.
   */
  readonly bulkBytes: number;
  /** Under `disconnect`: open a new wave of slow clients when the last one was cut off. */
  readonly waves: boolean;
}

export interface PhaseResult {
  readonly label: string;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly samples: number;
  readonly peaks: Peaks;
  readonly peakMemory: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  readonly slowOpened: number;
  readonly slowDisconnects: number;
  readonly eventsDropped: number;
}

export interface SlowConsumerResult {
  readonly phases: PhaseResult[];
  readonly ratios: number[];
  readonly medianRatio: number;
  /** p99 over every loaded phase's samples / p99 over every baseline phase's samples. */
  readonly pooledRatio: number;
  /** Fast clients that missed an event (a gap in the broadcast sequence) or were disconnected. */
  readonly fastGaps: number;
  readonly fastDisconnected: number;
  readonly fastEvents: number;
  /** Largest number of server sockets left open after a wave was cut off (see the report). */
  readonly lingeringSockets: number;
  readonly finalStats: ServerStats;
}

const BASE = '/api/v1/sse';

export async function runSlowConsumers(options: SlowConsumerOptions): Promise<SlowConsumerResult> {
  const server = await startFixture({
    sendBufferBytes: 16 * 1024,
    env: {
      SSE_MAX_QUEUED_EVENTS: String(options.maxQueuedEvents),
      SSE_MAX_QUEUED_BYTES: String(options.maxQueuedBytes),
      SSE_SLOW_POLICY: options.policy,
      SSE_HEARTBEAT_MS: '600000',
      SSE_HISTORY_MAX: '64',
    },
  });
  const fast: SseClient[] = [];
  let slow: Socket[] = [];
  try {
    // ---- fast clients: every tick event's latency, and gaps in the sequence
    let latencies: number[] = [];
    let fastEvents = 0;
    let fastGaps = 0;
    let connected = 0;
    const lastSeq = new Int32Array(options.fast).fill(-1);
    for (let batch = 0; batch < options.fast; batch += 250) {
      const opened: SseClient[] = [];
      for (let i = batch; i < Math.min(options.fast, batch + 250); i++) {
        const index = i;
        const client = openSse(server.port, `${BASE}/stream/fast/f${i}`, {
          keepEvents: false,
          keepText: false,
          onEvent: (event, receivedAt) => {
            if (event.event !== 'tick') {
              if (event.event === 'connected') connected++;
              return;
            }
            const data = event.data;
            const space = data.indexOf(' ');
            const seq = Number.parseInt(data.slice(space + 1, data.indexOf(' ', space + 1)), 10);
            const previous = lastSeq[index]!;
            if (previous !== -1 && seq !== previous + 1) fastGaps++;
            lastSeq[index] = seq;
            fastEvents++;
            latencies.push(receivedAt - Number.parseFloat(data.slice(0, space)));
          },
        });
        opened.push(client);
      }
      fast.push(...opened);
      await Promise.all(opened.map((c) => c.ready));
    }
    await until(() => connected >= options.fast, 60_000, `${options.fast} fast clients`);
    for (const client of fast) expectOk(client);

    await server.request({
      cmd: 'broadcast-start',
      intervalMs: Math.round(1000 / options.rate),
      perTick: 1,
      padBytes: options.padBytes,
      bulk: { group: 'slow', padBytes: options.bulkBytes },
    });
    await sleep(1_000); // warm-up, not measured

    const phases: PhaseResult[] = [];
    const pooledBaseline: number[] = [];
    const pooledLoaded: number[] = [];
    let lingeringSockets = 0;
    const phase = async (label: string, withSlow: boolean): Promise<PhaseResult> => {
      const before = (await counters(server)).counters;
      await server.request({ cmd: 'sample-start', intervalMs: 200 });
      let slowOpened = 0;
      if (withSlow) {
        // The first wave connects before the window opens: the window measures slow clients
        // being fed, blocking, overflowing and being cut off, not 1 000 TCP accepts at once.
        const wave = await openSlowWave(server, options.slow, 0);
        slow.push(...wave);
        slowOpened += wave.length;
      }
      latencies = [];
      const end = Date.now() + options.phaseMs;
      if (withSlow) {
        for (let first = true; Date.now() < end; first = false) {
          if (!first) {
            const wave = await openSlowWave(server, options.slow, slowOpened);
            slow.push(...wave);
            slowOpened += wave.length;
          }
          if (options.policy === 'drop-oldest' || !options.waves) break;
          // Wait until this wave has been cut off, then let it go like a browser tab would.
          const target = before.slowDisconnects + slowOpened;
          while (Date.now() < end) {
            const s = await counters(server);
            if (s.counters.slowDisconnects >= target) {
              lingeringSockets = Math.max(lingeringSockets, s.sockets - options.fast);
              break;
            }
            await sleep(250);
          }
          if (Date.now() >= end) break;
          for (const socket of slow) socket.destroy();
          slow = [];
        }
      }
      const remaining = end - Date.now();
      if (remaining > 0) await sleep(remaining);
      const sampled = await server.request<Pick<PhaseResult, 'peaks' | 'peakMemory'>>({
        cmd: 'sample-stop',
      });
      const measured = latencies;
      latencies = [];
      if (withSlow && options.policy === 'disconnect') {
        // Slow clients still being cut off when the phase ends: give them time (bounded).
        await until(
          async () =>
            (await counters(server)).counters.slowDisconnects - before.slowDisconnects >=
            slowOpened,
          30_000,
          'every slow client to be cut off',
        ).catch(() => {});
      }
      latencies = [];
      for (const value of measured) (withSlow ? pooledLoaded : pooledBaseline).push(value);
      const after = await server.stats();
      if (withSlow && options.policy === 'disconnect') {
        lingeringSockets = Math.max(lingeringSockets, after.sockets - options.fast);
      }
      const result: PhaseResult = {
        label,
        p50: percentile(measured, 50),
        p99: percentile(measured, 99),
        max: percentile(measured, 100),
        samples: measured.length,
        peaks: sampled.peaks,
        peakMemory: sampled.peakMemory,
        slowOpened,
        slowDisconnects: after.info.counters.slowDisconnects - before.slowDisconnects,
        eventsDropped: after.info.counters.eventsDropped - before.eventsDropped,
      };
      // Slow clients of this phase go away before the next baseline.
      for (const socket of slow) socket.destroy();
      slow = [];
      await until(
        async () => {
          const c = await counters(server);
          return c.connectionCount === options.fast && c.sockets === options.fast;
        },
        30_000,
        'slow clients to be gone',
      );
      // Let the server finish with them (closes, GC) before the next window opens.
      await sleep(500);
      report('slow consumers', label, {
        p50ms: result.p50,
        p99ms: result.p99,
        maxms: result.max,
        samples: result.samples,
        slowOpened,
        slowDisconnects: result.slowDisconnects,
        eventsDropped: result.eventsDropped,
        peakQueuedMaxB: result.peaks.queuedMax,
        peakQueuedTotalB: result.peaks.queuedTotal,
        peakSocketBufMaxB: result.peaks.socketBufferedMax,
        peakSocketBufTotalB: result.peaks.socketBufferedTotal,
        peakHeapMB: result.peakMemory.heapUsed / 2 ** 20,
        peakArrayBuffersMB: result.peakMemory.arrayBuffers / 2 ** 20,
        peakRssMB: result.peakMemory.rss / 2 ** 20,
      });
      return result;
    };

    const ratios: number[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const baseline = await phase(`round ${round} baseline (${options.fast} fast)`, false);
      const loaded = await phase(
        `round ${round} loaded (${options.fast} fast + ${options.slow} slow, ${options.policy})`,
        true,
      );
      phases.push(baseline, loaded);
      ratios.push(loaded.p99 / baseline.p99);
    }
    await server.request({ cmd: 'broadcast-stop' });
    const finalStats = await server.stats();
    let fastDisconnected = 0;
    for (const client of fast) if (client.closed) fastDisconnected++;
    const result: SlowConsumerResult = {
      phases,
      ratios,
      medianRatio: median(ratios),
      pooledRatio: percentile(pooledLoaded, 99) / percentile(pooledBaseline, 99),
      fastGaps,
      fastDisconnected,
      fastEvents,
      lingeringSockets,
      finalStats,
    };
    report('slow consumers', `p99 loaded/baseline per round`, {
      ratios: ratios.map((r) => Number(r.toFixed(2))),
      median: result.medianRatio,
      pooled: result.pooledRatio,
      fastEvents,
      fastGaps,
      fastDisconnected,
      lingeringSockets,
    });
    return result;
  } finally {
    for (const socket of slow) socket.destroy();
    for (const client of fast) client.reset();
    await server.kill();
  }
}

const counters = (server: ServerProcess) => server.request<CountersReply>({ cmd: 'counters' });

function expectOk(client: SseClient): void {
  if (client.head?.status !== 200) throw new Error(`a fast client got ${client.head?.status}`);
}

/** Opens `count` clients that send the GET and never read a byte. */
async function openSlowWave(server: ServerProcess, count: number, offset: number) {
  const sockets: Socket[] = [];
  const before = (await counters(server)).counters.connectionsOpened;
  for (let i = 0; i < count; i++) {
    const socket = connect({ port: server.port, host: '127.0.0.1' });
    socket.pause();
    socket.on('error', () => {});
    socket.on('connect', () =>
      socket.write(
        `GET ${BASE}/stream/slow/s${offset + i} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    );
    sockets.push(socket);
    if (i % 250 === 249) await sleep(10);
  }
  // Admitted: the hub counts them (they may already be cut off again by the time we look).
  await until(
    async () => (await counters(server)).counters.connectionsOpened >= before + count,
    30_000,
    'slow clients to be admitted',
  ).catch(() => {});
  return sockets;
}
