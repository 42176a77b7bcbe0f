/**
 * Issue 7, churn: 100 000 connect/disconnect cycles (the figure: ~20–40 s here), mixing
 * resets and clean closes. Afterwards nothing of them is left: connections, sockets, listeners,
 * timers, and the heap is back within 10 % of its baseline after GC.
 */

import { expect, test } from 'vitest';
import { runChurn } from './scenarios/churn.js';

test('100 000 cycles of connect and disconnect leave nothing behind', async () => {
  const result = await runChurn({ cycles: 100_000, concurrency: 32, maxMs: 150_000 });
  expect(result.cycles).toBe(100_000);
  expect(result.failures).toBe(0);
  for (const count of Object.values(result.byMode)) expect(count).toBe(20_000);

  const { baseline, after, empty, idle } = result;
  // Only the 8 long-lived streams remain, exactly as before the churn.
  expect(after.info.connectionCount).toBe(8);
  expect(after.info.clientCount).toBe(8);
  expect(after.info.groups).toEqual({ long: 8 });
  expect(after.trackedConnections).toBe(8);
  expect(after.sockets).toBe(8);
  expect(after.info.counters.connectionsOpened - after.info.counters.connectionsClosed).toBe(8);
  // No listener piled up on live sockets, none on the server, no timer left over.
  expect(after.drainListeners).toBe(baseline.drainListeners);
  expect(after.closeListeners).toBe(baseline.closeListeners);
  expect(after.serverListeners).toBe(baseline.serverListeners);
  expect(after.timers).toEqual(baseline.timers);
  expect(after.resources).toEqual(baseline.resources);
  // Heap within 10 % of the baseline after GC.
  expect(result.heapRatio).toBeLessThanOrEqual(1.1);
  expect(after.hookErrors).toBe(0);

  // With the long-lived streams gone too: an empty hub, and the hub's timers stopped.
  expect(empty.info.connectionCount).toBe(0);
  expect(empty.info.clientCount).toBe(0);
  expect(empty.info.groupCount).toBe(0);
  expect(empty.info.groups).toEqual({});
  expect(empty.sockets).toBe(0);
  expect(empty.timers).toEqual(idle.timers);
  expect(empty.resources).toEqual(idle.resources);
  expect(empty.info.counters.connectionsOpened).toBe(empty.info.counters.connectionsClosed);
  // The response objects of finished requests were garbage collected (finalizers may lag a little).
  expect(empty.responsesCollected).toBeGreaterThanOrEqual(empty.responsesCreated * 0.99);
}, 240_000);
