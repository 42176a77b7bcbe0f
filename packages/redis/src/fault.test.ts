import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep, startNode, type TestNode, uniquePrefix, until } from '../test/helpers.js';
import { type RedisServer, startRedisServer } from '../test/redis-server.js';

// Always a redis-server of our own: the machine's shared one is never killed.
let redis: RedisServer;
let nodes: TestNode[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await redis.stop();
});

it('survives kill -9 of Redis mid-stream: local delivery goes on, errors surface, nodes resubscribe', async () => {
  const prefix = uniquePrefix('fault');
  const [a, b] = await Promise.all([
    startNode(redis.url, prefix, { nodeId: 'a' }),
    startNode(redis.url, prefix, { nodeId: 'b' }),
  ]);
  nodes = [a!, b!];
  const onA = a!.connect('g', 'on-a');
  const onB = b!.connect('g', 'on-b');

  // A steady stream from a.
  let sending = true;
  let sent = 0;
  const sender = (async () => {
    while (sending) {
      await a!.hub.sendGroup('g', { data: `a:${sent++}` });
      await sleep(5);
    }
  })();
  await until(() => onB.events.length >= 20, 'cross-node delivery before the fault');

  await redis.kill9();
  const killedAt = sent;
  await until(() => sent >= killedAt + 30, 'sends go on without Redis');
  const duringOutage = onA.events.slice(-20);
  // Delivered locally, with local ids (not stream ids): the outage is visible to a client.
  for (const event of duringOutage) expect(event.id).not.toMatch(/^\d+-\d+$/);
  expect(a!.cluster.metrics().appendFailures).toBeGreaterThan(0);
  expect(a!.cluster.metrics().connected).toBe(false);
  expect(a!.errors.some((e) => e.context === 'history.append')).toBe(true);
  expect(b!.cluster.metrics().subscribed).toBe(false);
  // A reconnect during the outage gets a reset rather than a hang.
  const during = b!.connect('g', 'late', { lastEventId: onB.lastId });
  await until(() => during.events.some((e) => e.event === 'reset'), 'reset while Redis is gone');

  await redis.restart();
  await until(
    () => [a!, b!].every((n) => n.cluster.metrics().subscribed && n.cluster.metrics().connected),
    'both nodes reconnect and resubscribe by themselves',
    10_000,
  );
  expect(b!.cluster.metrics().resubscribes).toBeGreaterThanOrEqual(1);
  const resumedAt = sent;
  await until(
    () => onB.events.some((e) => Number(e.data.slice(2)) > resumedAt + 10),
    'cross-node delivery after the restart',
    10_000,
  );
  sending = false;
  await sender;
  await b!.hub.sendGroup('g', { data: 'from-b' });
  await until(() => onA.events.some((e) => e.data === 'from-b'), 'b to a after the restart');
  await sleep(100);

  const contexts = (n: TestNode) =>
    Object.entries(
      n.errors.reduce<Record<string, number>>((m, e) => {
        m[e.context] = (m[e.context] ?? 0) + 1;
        return m;
      }, {}),
    );
  console.info(
    'kill -9 run:',
    JSON.stringify({
      sent,
      killedAt,
      resumedAt,
      a: { metrics: a!.cluster.metrics(), errors: contexts(a!) },
      b: { metrics: b!.cluster.metrics(), errors: contexts(b!) },
    }),
  );

  // After the restart, b got a's events exactly once, in a's order, with stream ids.
  const afterRestart = onB.events.filter(
    (e) => e.data.startsWith('a:') && Number(e.data.slice(2)) >= resumedAt,
  );
  const numbers = afterRestart.map((e) => Number(e.data.slice(2)));
  expect(new Set(numbers).size).toBe(numbers.length);
  expect(numbers).toEqual([...numbers].sort((x, y) => x - y));
  const last = numbers[numbers.length - 1]!;
  expect(numbers).toEqual(
    Array.from({ length: last - numbers[0]! + 1 }, (_, i) => numbers[0]! + i),
  );
  for (const event of afterRestart) expect(event.id).toMatch(/^\d+-\d+$/);
  // And a never stopped: every send reached its local client exactly once.
  const local = onA.events
    .filter((e) => e.data.startsWith('a:'))
    .map((e) => Number(e.data.slice(2)));
  expect(local).toEqual(Array.from({ length: sent }, (_, i) => i));
}, 40_000);
