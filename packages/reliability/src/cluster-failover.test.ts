/**
 * Issue 7, graceful shutdown with Redis and two nodes: clients on node A move to node B when A
 * gets SIGTERM, reconnecting with their Last-Event-ID like a browser, and lose no event (checked
 * by id against a reference client that stayed on B the whole time). Publishes go to both nodes
 * while A lives, then to B.
 */

import type { EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openSse, postJson, type SseClient } from './harness/http.js';
import { ADMIN, type ServerProcess, startFixture } from './harness/processes.js';
import { type RedisHandle, startRedis } from './harness/redis.js';
import { report, sleep, until } from './harness/report.js';

const BASE = '/api/v1/sse';
const MOVERS = 20;

describe('two nodes over @ssehub/redis', () => {
  let redis: RedisHandle;
  const nodes: ServerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await redis?.stop();
  });

  test('clients of the node that gets SIGTERM move to the other and lose no event', async () => {
    const prefix = `reliability-${process.pid}-${Date.now()}`;
    const env = (id: string) => ({
      REDIS_URL: redis.url,
      SSEHUB_PREFIX: prefix,
      NODE_ID: id,
      SSE_HEARTBEAT_MS: '600000',
      SSE_MAX_QUEUED_EVENTS: '10000',
    });
    const a = await startFixture({ env: env('a') });
    const b = await startFixture({ env: env('b') });
    nodes.push(a, b);

    const reference = openSse(b.port, `${BASE}/stream/room/reference`);
    const first: SseClient[] = [];
    for (let i = 0; i < MOVERS; i++) first.push(openSse(a.port, `${BASE}/stream/room/m${i}`));
    for (const client of [reference, ...first])
      await client.waitFor(() => client.events.length > 0, 10_000, 'connected');

    // Publisher: round-robin over the live nodes, one send every few ms.
    let aAlive = true;
    let stop = false;
    const acked: number[] = [];
    let refused = 0;
    const publisher = (async () => {
      for (let n = 0; !stop && n < 100_000; n++) {
        const target = aAlive && n % 2 === 0 ? a : b;
        const response = await postJson(
          target.port,
          `${BASE}/publish`,
          { group: 'room', event: 'seq', data: String(n) },
          ADMIN,
        );
        if (response.status === 200) acked.push(n);
        else refused++;
        await sleep(3);
      }
    })();

    await sleep(1_500);
    // Movers reconnect to B as soon as their stream on A ends, with their Last-Event-ID.
    const second = new Map<number, SseClient>();
    const moved = first.map(async (client, i) => {
      await client.done;
      const last = [...client.events].reverse().find((e) => e.id !== undefined)?.id;
      const headers: Record<string, string> = last === undefined ? {} : { 'Last-Event-ID': last };
      const next = openSse(b.port, `${BASE}/stream/room/m${i}`, { headers });
      second.set(i, next);
      await next.waitFor(() => next.events.length > 0, 10_000, 'connected on B');
    });
    const signalled = Date.now();
    const exit = a.signal('SIGTERM').then((e) => {
      aAlive = false;
      return e;
    });
    await Promise.all(moved);
    const movedMs = Date.now() - signalled;
    await sleep(1_500);
    stop = true;
    await publisher;
    const exited = await exit;

    // A marker through B: once everyone has it, everyone has everything before it.
    const marker = await postJson(
      b.port,
      `${BASE}/publish`,
      { group: 'room', event: 'seq', data: 'end' },
      ADMIN,
    );
    expect(marker.status).toBe(200);
    const ends = (c: SseClient) => c.events.some((e) => e.data === 'end');
    await until(
      () => ends(reference) && [...second.values()].every(ends),
      15_000,
      'the marker on every client',
    );

    const seq = (events: EventSourceMessage[]) => events.filter((e) => e.event === 'seq');
    const want = seq(reference.events);
    const wantIds = want.map((e) => e.id);
    // The reference saw every acknowledged send, each once.
    const refData = new Set(want.map((e) => e.data));
    for (const n of acked) expect(refData.has(String(n))).toBe(true);
    expect(new Set(wantIds).size).toBe(wantIds.length);

    let lost = 0;
    let duplicates = 0;
    let resets = 0;
    for (const [i, client] of first.entries()) {
      const after = second.get(i)!;
      const got = [...seq(client.events), ...seq(after.events)];
      const ids = got.map((e) => e.id);
      const unique = new Set(ids);
      duplicates += ids.length - unique.size;
      lost += wantIds.filter((id) => !unique.has(id)).length;
      resets += after.events.filter((e) => e.event === 'reset').length;
      // Same events, same order, as the reference.
      expect(ids).toEqual(wantIds);
      expect(client.cleanEnd).toBe(true);
    }
    report(
      'cluster failover',
      `SIGTERM node A, ${MOVERS} clients move to node B with Last-Event-ID`,
      {
        published: acked.length,
        refusedWhileAStopped: refused,
        referenceEvents: want.length,
        lost,
        duplicates,
        resets,
        movedWithinMs: movedMs,
        nodeAExit: exited.code,
        eventsOnAFirst: first.map((c) => seq(c.events).length).reduce((x, y) => x + y, 0) / MOVERS,
      },
    );
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    expect(resets).toBe(0);
    expect(exited.code).toBe(0);
    for (const client of [reference, ...second.values()]) client.reset();
  }, 90_000);
});
