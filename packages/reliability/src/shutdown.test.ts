/**
 * Issue 7, graceful shutdown: SIGTERM to apps/node (and apps/demo, when this checkout has it)
 * while events are queued. Every client gets everything published before the signal, then a
 * clean end of the stream (the chunked terminator: a browser reconnects), new streams are
 * refused, and the process exits 0.
 *
 * "Queued": besides readers that keep up, some clients have paused reading before the burst, so
 * at the signal several MiB wait for them in the hub's queue and the socket; they resume shortly
 * after the signal and must still get every event.
 */

import { describe, expect, test } from 'vitest';
import { formatRequest, openSse, postJson, rawRequest, type SseClient } from './harness/http.js';
import { ADMIN, demoAvailable, startApp } from './harness/processes.js';
import { report, sleep, until } from './harness/report.js';

const BASE = '/api/v1/sse';
const EVENTS = 300;
const PAD = 'p'.repeat(16 * 1024);

interface ShutdownResult {
  readonly readers: SseClient[];
  readonly paused: SseClient[];
  readonly late: string[];
  readonly exitCode: number | string | null;
  readonly exitMs: number;
}

/** Publishes a burst, sends SIGTERM, resumes the paused clients `resumeAfterMs` later. */
async function shutdownWhileQueued(app: 'node' | 'demo', resumeAfterMs: number) {
  const server = await startApp(app, {
    env: {
      SSE_MAX_QUEUED_EVENTS: '100000',
      SSE_MAX_QUEUED_BYTES: String(256 * 1024 * 1024),
      SSE_HEARTBEAT_MS: '600000',
    },
  });
  const readers: SseClient[] = [];
  const paused: SseClient[] = [];
  try {
    for (let i = 0; i < 20; i++) readers.push(openSse(server.port, `${BASE}/stream/team/r${i}`));
    for (let i = 0; i < 3; i++) paused.push(openSse(server.port, `${BASE}/stream/team/p${i}`));
    for (const client of [...readers, ...paused])
      await client.waitFor(() => client.events.length > 0, 10_000, 'connected');
    for (const client of paused) client.socket.pause();

    // The burst: every publish acknowledged before the signal.
    for (let n = 0; n < EVENTS; n += 20) {
      const batch = [];
      for (let k = n; k < Math.min(EVENTS, n + 20); k++)
        batch.push(
          postJson(
            server.port,
            `${BASE}/publish`,
            { group: 'team', event: 'burst', data: `${k} ${PAD}` },
            ADMIN,
          ),
        );
      for (const response of await Promise.all(batch)) expect(response.status).toBe(200);
    }
    const signalled = Date.now();
    const exited = server.signal('SIGTERM');

    // New streams after the hub closed: refused, or the port is closed.
    await until(() => readers.every((c) => c.closed), 10_000, 'the readers to be ended');
    const late: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await rawRequest(
        server.port,
        formatRequest('GET', `${BASE}/stream/team/late${i}`),
        { timeoutMs: 1_000, enough: (body) => body.includes('event: connected') },
      );
      expect(response.body).not.toContain('event: connected');
      late.push(response.status === 0 ? (response.error ?? 'closed') : String(response.status));
    }
    const waited = Date.now() - signalled;
    if (waited < resumeAfterMs) await sleep(resumeAfterMs - waited);
    for (const client of paused) client.socket.resume();
    const exit = await Promise.race([
      exited,
      sleep(20_000).then(() => ({ code: 'still running 20 s after SIGTERM', signal: null })),
    ]);
    const exitMs = Date.now() - signalled;
    await until(() => paused.every((c) => c.closed), 10_000, 'the paused clients to be ended');
    const received = (client: SseClient) => client.events.filter((e) => e.event === 'burst');
    report('graceful shutdown', `apps/${app}: SIGTERM with ${EVENTS} x 16 KiB events queued`, {
      readers: readers.length,
      readersComplete: readers.filter((c) => received(c).length === EVENTS && c.cleanEnd).length,
      pausedResumedAfterMs: resumeAfterMs,
      pausedReceived: paused.map((c) => received(c).length),
      pausedCleanEnd: paused.map((c) => c.cleanEnd),
      lateStreamRequests: late,
      exitCode: exit.code,
      exitMs,
    });
    return { readers, paused, late, exitCode: exit.code, exitMs } satisfies ShutdownResult;
  } finally {
    for (const client of [...readers, ...paused]) client.reset();
    await server.kill();
  }
}

/** Every event of the burst, in order, then a clean end with `retry:` sent: a browser reconnects. */
function expectComplete(client: SseClient): void {
  const burst = client.events.filter((e) => e.event === 'burst');
  expect(burst.length).toBe(EVENTS);
  burst.forEach((event, k) => {
    expect(event.data.slice(0, event.data.indexOf(' '))).toBe(String(k));
  });
  expect(client.cleanEnd).toBe(true);
  expect(client.malformed).toBeUndefined();
  expect(client.retries.length).toBeGreaterThan(0);
}

describe.sequential('graceful shutdown', () => {
  test('apps/node: SIGTERM flushes to readers, ends streams cleanly, refuses new ones, exits 0', async () => {
    const result = await shutdownWhileQueued('node', 300);
    for (const client of result.readers) expectComplete(client);
    // Refused (the port is closed), never a new stream.
    for (const answer of result.late) expect(answer).not.toBe('200');
    expect(result.exitCode).toBe(0);
  }, 90_000);

  // apps/node shuts down with closeGracefully: ended streams are flushed before the server closes.
  test('apps/node: a client that is behind at SIGTERM still gets everything', async () => {
    const result = await shutdownWhileQueued('node', 300);
    for (const client of result.paused) expectComplete(client);
  }, 90_000);

  test.skipIf(!demoAvailable())(
    'apps/demo: SIGTERM flushes what is queued (also to clients behind), ends streams cleanly, refuses new ones, exits 0',
    async () => {
      const result = await shutdownWhileQueued('demo', 300);
      for (const client of [...result.readers, ...result.paused]) expectComplete(client);
      for (const answer of result.late) expect(answer).not.toBe('200');
      expect(result.exitCode).toBe(0);
    },
    90_000,
  );
});
