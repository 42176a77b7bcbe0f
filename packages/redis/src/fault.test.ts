import { SSEError } from '@ssehub/core';
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

const brief = (node: TestNode) => {
  const { state, reconnects, refused } = node.hub.info().broker!;
  return { state, reconnects, refused, redis: node.backplane.metrics() };
};

it('refuses sends while Redis is gone (kill -9), delivers nothing of them, and recovers by itself', async () => {
  const prefix = uniquePrefix('fault');
  const [a, b] = await Promise.all([
    startNode(redis.url, prefix, { nodeId: 'a' }),
    startNode(redis.url, prefix, { nodeId: 'b' }),
  ]);
  nodes = [a!, b!];
  const onA = a!.connect('g', 'on-a');
  const onB = b!.connect('g', 'on-b');

  // A steady stream from a; each send is either accepted or refused with broker_unavailable.
  let sending = true;
  let sent = 0;
  const accepted: number[] = [];
  const refused: number[] = [];
  const sender = (async () => {
    while (sending) {
      const n = sent++;
      try {
        await a!.hub.sendGroup('g', { data: `a:${n}` });
        accepted.push(n);
      } catch (error) {
        expect(error).toBeInstanceOf(SSEError);
        expect((error as SSEError).code).toBe('broker_unavailable');
        refused.push(n);
      }
      await sleep(5);
    }
  })();
  await until(() => onB.events.length >= 20, 'cross-node delivery before the fault');

  await redis.kill9();
  await until(() => refused.length >= 30, 'sends are refused without Redis');
  expect(a!.hub.info().broker).toMatchObject({ state: 'down' });
  expect(b!.hub.info().broker).toMatchObject({ state: 'down' });
  expect(a!.backplane.metrics().connected).toBe(false);
  expect(b!.backplane.metrics().subscribed).toBe(false);
  // A reconnect during the outage gets a reset rather than a hang.
  const during = b!.connect('g', 'late', { lastEventId: onB.lastId });
  await until(() => during.events.some((e) => e.event === 'reset'), 'reset while Redis is gone');

  await redis.restart();
  await until(
    () =>
      [a!, b!].every(
        (n) => n.backplane.metrics().subscribed && n.hub.info().broker?.state === 'up',
      ),
    'both nodes reconnect and resubscribe by themselves',
    10_000,
  );
  expect(b!.backplane.metrics().resubscribes).toBeGreaterThanOrEqual(1);
  expect(a!.hub.info().broker?.reconnects).toBeGreaterThanOrEqual(1);
  const resumedAt = sent;
  await until(() => accepted.filter((n) => n > resumedAt).length >= 20, 'sends accepted again');
  sending = false;
  await sender;
  await b!.hub.sendGroup('g', { data: 'from-b' });
  await until(() => onA.events.some((e) => e.data === 'from-b'), 'b to a after the restart');
  const wanted = accepted.map((n) => `a:${n}`);
  const received = (events: { data: string }[]) =>
    events.map((e) => e.data).filter((d) => d.startsWith('a:'));
  await until(
    () => received(onB.events).length >= wanted.length,
    'every accepted send on b',
    10_000,
  );
  await sleep(100);

  console.info(
    'in-process kill -9 run:',
    JSON.stringify({
      sent,
      accepted: accepted.length,
      refused: refused.length,
      onA: received(onA.events).length,
      onB: received(onB.events).length,
      a: brief(a!),
      b: brief(b!),
    }),
  );
  expect(refused.length).toBeGreaterThan(0);
  expect(a!.hub.info().broker?.refused).toBe(refused.length);
  // Every accepted send reached both nodes exactly once, in order; no refused send reached either.
  expect(received(onA.events)).toEqual(wanted);
  expect(received(onB.events)).toEqual(wanted);
}, 40_000);
