/**
 * Issue 7, slow consumers: 1 000 clients that never read and 4 000 that do, with broadcasts
 * running continuously (see `scenarios/slow-consumers.ts` for how it is measured).
 */

import { connect, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { openSse, type SseClient } from './harness/http.js';
import { startFixture } from './harness/processes.js';
import { report, sleep, until } from './harness/report.js';
import { runSlowConsumers } from './scenarios/slow-consumers.js';

/** Baseline and loaded phases alternate this many times; the median ratio is asserted. */
const ROUNDS = 8;
const MAX_EVENTS = 32;
const MAX_BYTES = 64 * 1024;
/** Node's writable high-water mark: what a socket holds before `write` returns false. */
const HWM = 16 * 1024;
const BULK = 16_000;
/** Userland bytes one connection may hold: the hub's queue, plus the chunk in Node's buffer. */
const PER_CONNECTION = MAX_BYTES + HWM + MAX_BYTES;

const common = {
  fast: 4_000,
  slow: 1_000,
  maxQueuedEvents: MAX_EVENTS,
  maxQueuedBytes: MAX_BYTES,
  rate: 5,
  padBytes: 200,
  bulkBytes: BULK,
  waves: false,
} as const;

describe.sequential('slow consumers', () => {
  test('disconnect policy: fast clients lose nothing, memory bounded by the cap, slow ones cut off and counted (p99 ratio reported)', async () => {
    const result = await runSlowConsumers({
      ...common,
      policy: 'disconnect',
      phaseMs: 3_500,
      rounds: ROUNDS,
    });
    // Fast clients: every event, in order, never disconnected.
    expect(result.fastGaps).toBe(0);
    expect(result.fastDisconnected).toBe(0);
    expect(result.finalStats.info.connectionCount).toBe(common.fast);
    // Latency: the median over rounds of p99(loaded) / p99(baseline), printed with the figures.
    // A latency goal is a benchmark's to assert, not a test's: `pnpm soak` asserts <= 1.5 over
    // minutes; here, on a machine shared with the rest of the test command, only on request.
    if (process.env.SSEHUB_ASSERT_LATENCY === '1') {
      expect(result.medianRatio).toBeLessThanOrEqual(1.5);
    }
    for (const [i, loaded] of result.phases.entries()) {
      if (i % 2 === 0) continue;
      const baseline = result.phases[i - 1]!;
      // Every slow client was cut off and counted as slow.
      expect(loaded.slowDisconnects).toBe(common.slow);
      // Memory: per connection within the cap, in total within slow x cap.
      expect(loaded.peaks.queuedMax).toBeLessThanOrEqual(MAX_BYTES);
      expect(loaded.peaks.socketBufferedMax).toBeLessThanOrEqual(HWM + MAX_BYTES);
      expect(loaded.peaks.queuedTotal + loaded.peaks.socketBufferedTotal).toBeLessThanOrEqual(
        common.slow * PER_CONNECTION,
      );
      const extra =
        loaded.peakMemory.heapUsed +
        loaded.peakMemory.arrayBuffers -
        (baseline.peakMemory.heapUsed + baseline.peakMemory.arrayBuffers);
      report('slow consumers', `${loaded.label}: server memory over baseline`, {
        extraMB: extra / 2 ** 20,
        perSlowKB: extra / common.slow / 1024,
        boundPerSlowKB: PER_CONNECTION / 1024,
      });
      expect(extra).toBeLessThanOrEqual(common.slow * PER_CONNECTION);
    }
    expect(result.finalStats.info.counters.slowDisconnects).toBe(common.slow * ROUNDS);
    expect(result.finalStats.disconnectReasons.slow).toBe(common.slow * ROUNDS);
  }, 240_000);

  test('drop-oldest policy: slow clients stay connected, their oldest events are dropped and counted', async () => {
    const result = await runSlowConsumers({
      ...common,
      policy: 'drop-oldest',
      phaseMs: 8_000,
      rounds: 1,
    });
    const [, loaded] = result.phases;
    expect(result.fastGaps).toBe(0);
    expect(result.fastDisconnected).toBe(0);
    expect(loaded!.slowDisconnects).toBe(0);
    expect(loaded!.eventsDropped).toBeGreaterThan(0);
    expect(loaded!.peaks.queuedMax).toBeLessThanOrEqual(MAX_BYTES);
    expect(loaded!.peaks.socketBufferedMax).toBeLessThanOrEqual(HWM + MAX_BYTES);
    expect(loaded!.peaks.queuedTotal + loaded!.peaks.socketBufferedTotal).toBeLessThanOrEqual(
      common.slow * PER_CONNECTION,
    );
    // One round only: reported, not asserted (the disconnect test asserts the median of three).
    report('slow consumers', 'drop-oldest p99 ratio (one round, not asserted)', {
      ratio: result.ratios[0],
    });
  }, 120_000);

  test('stall sweep: under drop-oldest, clients blocked for SSE_IDLE_TIMEOUT_MS are closed and counted', async () => {
    const server = await startFixture({
      sendBufferBytes: 16 * 1024,
      env: {
        SSE_SLOW_POLICY: 'drop-oldest',
        SSE_MAX_QUEUED_EVENTS: '8',
        SSE_IDLE_TIMEOUT_MS: '2000',
        SSE_SWEEP_MS: '250',
        SSE_HEARTBEAT_MS: '600000',
      },
    });
    const paused: Socket[] = [];
    const readers: SseClient[] = [];
    try {
      for (let i = 0; i < 5; i++) readers.push(openSse(server.port, `/api/v1/sse/stream/r/r${i}`));
      for (let i = 0; i < 50; i++) {
        const socket = connect({ port: server.port, host: '127.0.0.1' });
        socket.pause();
        socket.on('error', () => {});
        socket.write(`GET /api/v1/sse/stream/stall/s${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        paused.push(socket);
      }
      await until(async () => (await server.stats()).info.connectionCount === 55, 10_000, 'all in');
      const started = Date.now();
      await server.request({ cmd: 'broadcast-start', intervalMs: 50, perTick: 1, padBytes: 8_000 });
      await until(
        async () => (await server.stats()).info.counters.stalledDisconnects >= 50,
        20_000,
        'the stalled clients to be closed',
      );
      const stalledAfterMs = Date.now() - started;
      await server.request({ cmd: 'broadcast-stop' });
      const stats = await server.stats();
      expect(stats.info.counters.stalledDisconnects).toBe(50);
      expect(stats.disconnectReasons.stalled).toBe(50);
      expect(stats.info.counters.slowDisconnects).toBe(0);
      expect(stats.info.counters.eventsDropped).toBeGreaterThan(0);
      expect(stats.info.connectionCount).toBe(5);
      for (const reader of readers) expect(reader.closed).toBe(false);
      report('slow consumers', '50 paused clients under drop-oldest, idle timeout 2 s', {
        stalledDisconnects: stats.info.counters.stalledDisconnects,
        stalledAfterMs,
        eventsDropped: stats.info.counters.eventsDropped,
        readersConnected: stats.info.connectionCount,
        serverSocketsLeftOpen: stats.sockets - 5,
      });
    } finally {
      for (const socket of paused) socket.destroy();
      for (const reader of readers) reader.reset();
      await server.kill();
    }
  });

  // The adapter aborts a connection the hub gave up on (slow, stalled): a client that never reads
  // would never take a graceful end, and its socket would stay outside the connection limits.
  test('a slow client that was cut off does not keep its server socket (limits hold)', async () => {
    const server = await startFixture({
      sendBufferBytes: 16 * 1024,
      env: {
        SSE_MAX_QUEUED_EVENTS: '8',
        SSE_MAX_QUEUED_BYTES: String(64 * 1024),
        SSE_MAX_CONNECTIONS: '20',
        SSE_HEARTBEAT_MS: '600000',
      },
    });
    const sockets: Socket[] = [];
    try {
      await server.request({
        cmd: 'broadcast-start',
        intervalMs: 20,
        perTick: 1,
        padBytes: 16_000,
      });
      // Three waves of 20 clients that never read: each wave fits the limit, is cut off as slow.
      for (let wave = 0; wave < 3; wave++) {
        const before = (await server.stats()).info.counters.slowDisconnects;
        for (let i = 0; i < 20; i++) {
          const socket = connect({ port: server.port, host: '127.0.0.1' });
          socket.pause();
          socket.on('error', () => {});
          socket.write(`GET /api/v1/sse/stream/slow/w${wave}-${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
          sockets.push(socket);
        }
        await until(
          async () => (await server.stats()).info.counters.slowDisconnects >= before + 20,
          20_000,
          'the wave to be cut off',
        );
      }
      await sleep(2_000);
      const stats = await server.stats();
      report('slow consumers', 'sockets left open after 3 waves of 20 cut-off clients', {
        hubConnections: stats.info.connectionCount,
        serverSockets: stats.sockets,
        maxConnections: 20,
      });
      expect(stats.sockets).toBeLessThanOrEqual(20);
    } finally {
      for (const socket of sockets) socket.destroy();
      await server.kill();
    }
  });
});
