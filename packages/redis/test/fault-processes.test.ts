/**
 * kill -9 of Redis under three hub processes with clients on every node: local delivery goes on,
 * nothing crashes, every node resubscribes by itself, and afterwards every client gets every send
 * exactly once, in one order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compareStreamIds } from '../src/wire.js';
import { bundle } from './bundle.js';
import { sleep, uniquePrefix, until } from './helpers.js';
import { type HubProcess, publish, startHubProcess, stopHubProcesses } from './processes.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { FetchClient } from './sse-client.js';

let redis: RedisServer;
const processes: HubProcess[] = [];

beforeAll(async () => {
  // A redis-server of our own: the shared one is never killed.
  redis = await startRedisServer();
  const script = await bundle('test/fixtures/node-server.ts');
  const prefix = uniquePrefix('fault-processes');
  for (const n of [0, 1, 2]) {
    processes.push(
      await startHubProcess(script, {
        REDIS_URL: redis.url,
        SSEHUB_PREFIX: prefix,
        NODE_ID: `node${n}`,
        QUIET: '1',
      }),
    );
  }
}, 60_000);

afterAll(async () => {
  await stopHubProcesses(processes);
  await redis.stop();
});

interface Metrics {
  redis: { connected: boolean; subscribed: boolean; appendFailures: number; resubscribes: number };
}

async function metrics(node: HubProcess): Promise<Metrics> {
  return (await fetch(`http://127.0.0.1:${node.port}/cluster/metrics`)).json() as Promise<Metrics>;
}

it('keeps delivering through kill -9 of Redis and recovers exactly once', async () => {
  const clients = processes.flatMap((node, n) =>
    [0, 1].map((k) => ({ node: n, client: new FetchClient(`${node.base}/stream/g/c${n}${k}`) })),
  );
  await until(() => clients.every((c) => c.client.connected), 'all connected');

  let phase: 'before' | 'outage' | 'after' = 'before';
  const sent: { node: number; i: number; phase: string }[][] = [[], [], []];
  let running = true;
  const publishers = processes.map(async (node, n) => {
    for (let i = 0; running; i++) {
      const at = phase;
      await publish(node.base, { group: 'g', data: `${n}:${i}` });
      sent[n]!.push({ node: n, i, phase: at });
      await sleep(8);
    }
  });

  await sleep(400);
  phase = 'outage';
  await redis.kill9();
  await sleep(800);
  const during = await Promise.all(processes.map(metrics));
  for (const m of during) expect(m.redis.connected).toBe(false);
  expect(during.some((m) => m.redis.appendFailures > 0)).toBe(true);

  await redis.restart();
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = await Promise.all(processes.map(metrics));
    if (now.every((m) => m.redis.connected && m.redis.subscribed && m.redis.resubscribes >= 1))
      break;
    if (Date.now() > deadline) throw new Error('the nodes did not resubscribe');
    await sleep(50);
  }
  phase = 'after';
  await until(
    () => sent.every((list) => list.filter((s) => s.phase === 'after').length >= 15),
    'sends after recovery',
  );
  running = false;
  await Promise.all(publishers);

  const after = sent.flat().filter((s) => s.phase === 'after');
  await until(
    () =>
      clients.every(({ client }) => {
        const got = new Set(client.events.map((e) => e.data));
        return after.every((s) => got.has(`${s.node}:${s.i}`));
      }),
    'every send after recovery on every client',
  );
  await sleep(200);

  const reference = clients[0]!.client.events
    .filter((e) => /^\d+-\d+$/.test(e.id ?? ''))
    .map((e) => e.data);
  for (const { node, client } of clients) {
    const data = client.events.map((e) => e.data);
    // Exactly once: no send twice, whatever happened to Redis.
    expect(new Set(data).size).toBe(data.length);
    // Local delivery never stopped: every send of this node reached its clients.
    const own = new Set(data.filter((d) => d.startsWith(`${node}:`)));
    expect(sent[node]!.every((s) => own.has(`${node}:${s.i}`))).toBe(true);
    // Events with stream ids arrive in stream order.
    const ids = client.events.map((e) => e.id ?? '').filter((id) => /^\d+-\d+$/.test(id));
    for (let i = 1; i < ids.length; i++)
      expect(compareStreamIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
    // Sends after recovery: the same order on every client.
    const afterSet = new Set(after.map((s) => `${s.node}:${s.i}`));
    expect(data.filter((d) => afterSet.has(d))).toEqual(reference.filter((d) => afterSet.has(d)));
  }
  await Promise.all(clients.map(({ client }) => client.close()));
}, 60_000);
