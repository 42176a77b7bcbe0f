import { Hub } from '@ssehub/core';
import { Redis } from 'ioredis';
import { afterEach, expect, inject, it } from 'vitest';
import { sleep, TestClient, uniquePrefix, until } from '../test/helpers.js';
import { RedisBackplane } from './backplane.js';

const url = inject('redisUrl');
const hubs: Hub[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
  for (const c of clients.splice(0)) c.disconnect();
});

async function node(prefix: string, nodeId: string, redis: Redis | string = url): Promise<Hub> {
  const backplane = new RedisBackplane({ redis, prefix, nodeId, presence: { leaseMs: 400 } });
  const hub = new Hub({
    ...backplane.hubOptions,
    presence: { events: ['room'], graceMs: 50 },
    heartbeatMs: 60_000,
  });
  hubs.push(hub);
  await backplane.ready();
  return hub;
}

function open(hub: Hub, group: string, id: string): TestClient {
  const client = new TestClient();
  client.connection = hub.connect(client.sink, { group, id, meta: { name: id.toUpperCase() } });
  return client;
}

const changes = (client: TestClient) =>
  client.events
    .filter((e) => e.event === 'join' || e.event === 'leave')
    .map((e) => `${e.event} ${JSON.parse(e.data).id}`);

it('a node that cannot reach Redis past its lease is reaped; back, it writes its clients again', async () => {
  const prefix = uniquePrefix('presence-reaped');
  const own = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  clients.push(own);
  const a = await node(prefix, 'a', own);
  const b = await node(prefix, 'b');
  const watcher = open(b, 'room', 'w');
  await until(() => changes(watcher).length === 1, 'join w');
  open(a, 'room', 'x');
  open(b, 'room', 'x'); // one presence, a tab on each node
  open(a, 'room', 'y'); // only on node a
  await until(() => changes(watcher).length === 3, 'three joins');
  let listed = await b.presence('room');
  for (let i = 0; i < 50 && listed.clients.find((c) => c.id === 'x')?.connections !== 2; i++) {
    await sleep(20);
    listed = await b.presence('room');
  }
  expect(listed).toEqual({
    group: 'room',
    count: 3,
    clients: [
      { id: 'w', connections: 1, meta: { name: 'W' } },
      { id: 'x', connections: 2, meta: { name: 'X' } },
      { id: 'y', connections: 1, meta: { name: 'Y' } },
    ],
  });

  // Node a's scripts fail (as if Redis were unreachable from it): its lease runs out, b reaps
  // it, and y (only on a) leaves; x (also on b) does not.
  const evalsha = own.evalsha.bind(own);
  own.evalsha = (() => Promise.reject(new Error('unreachable'))) as typeof own.evalsha;
  await until(() => changes(watcher).includes('leave y'), 'leave y after the lease', 5_000);
  expect((await b.presence('room')).clients.map((c) => c.id)).toEqual(['w', 'x']);

  // Back: a writes its whole state again; y joins again, x never left.
  own.evalsha = evalsha;
  await until(() => changes(watcher).filter((c) => c === 'join y').length === 2, 'join y again');
  await sleep(300);
  // (x and y joined through different nodes: their order is not fixed.)
  expect(changes(watcher).slice(1, 3).sort()).toEqual(['join x', 'join y']);
  expect(changes(watcher)).toHaveLength(5);
  expect(changes(watcher).slice(3)).toEqual(['leave y', 'join y']);
  expect((await b.presence('room')).clients).toEqual(listed.clients);
});

it('a burst of connections in one tick is written in bounded batches, all of it', async () => {
  const prefix = uniquePrefix('presence-burst');
  const [a, b] = [await node(prefix, 'a'), await node(prefix, 'b')];
  for (let i = 0; i < 2_500; i++) open(a, 'crowd', `c${i}`);
  open(b, 'crowd', 'c0');
  let listed = await b.presence('crowd');
  for (let i = 0; i < 100 && listed.count < 2_500; i++) {
    await sleep(50);
    listed = await b.presence('crowd');
  }
  expect(listed.count).toBe(2_500);
  expect(listed.clients[0]).toEqual({ id: 'c0', connections: 2, meta: { name: 'C0' } });
});
