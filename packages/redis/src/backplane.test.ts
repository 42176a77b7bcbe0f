import { Hub } from '@ssehub/core';
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  sleep,
  startNode,
  TestClient,
  type TestNode,
  uniquePrefix,
  until,
} from '../test/helpers.js';
import { RedisBackplane } from './backplane.js';
import { compareStreamIds } from './wire.js';

const url = inject('redisUrl');
let nodes: TestNode[] = [];

async function startNodes(count: number, name: string, options = {}): Promise<TestNode[]> {
  const prefix = uniquePrefix(name);
  const started = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startNode(url, prefix, { nodeId: `n${i}`, ...options }),
    ),
  );
  nodes.push(...started);
  return started;
}

afterEach(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
});

const data = (client: TestClient) => client.events.map((e) => e.data);

/** An ioredis client whose duplicates (the link's subscriber) the test can reach. */
function spyClient(): { own: Redis; subscribers: Redis[] } {
  const subscribers: Redis[] = [];
  class Spy extends Redis {
    override duplicate(override?: Partial<RedisOptions>): Redis {
      const copy = super.duplicate(override);
      subscribers.push(copy);
      return copy;
    }
  }
  return { own: new Spy(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 }), subscribers };
}

describe('delivery across nodes', () => {
  it('delivers unicast, group, broadcast, list and filter sends exactly once on every node', async () => {
    const [a, b, c] = await startNodes(3, 'kinds');
    const u1a = a!.connect('users', 'u1');
    const u1c = c!.connect('users', 'u1');
    const u2 = b!.connect('users', 'u2', { meta: { role: 'admin' } });
    const x1 = c!.connect('admins', 'x1', { meta: { role: 'admin' } });
    const all = [u1a, u1c, u2, x1];

    await b!.hub.send({ group: 'users', id: 'u1' }, { data: 'unicast' });
    await a!.hub.sendGroup('users', { data: 'group' });
    await c!.hub.broadcast({ data: 'broadcast' });
    await a!.hub.sendMany(
      [
        { group: 'users', id: 'u2' },
        { group: 'admins', id: 'x1' },
      ],
      { data: 'list' },
    );
    await b!.hub.sendFilter('role', 'admin', { data: 'filter' });
    const expected = [
      ['unicast', 'group', 'broadcast'],
      ['unicast', 'group', 'broadcast'],
      ['group', 'broadcast', 'list', 'filter'],
      ['broadcast', 'list', 'filter'],
    ];
    await until(
      () => all.every((client, i) => client.events.length >= expected[i]!.length),
      'every send everywhere',
    );
    await sleep(100);
    expect(all.map(data)).toEqual(expected);
    for (const client of all) {
      for (const id of client.ids) expect(id).toMatch(/^\d+-\d+$/);
    }
  });

  it('delivers between nodes given the same nodeId', async () => {
    const prefix = uniquePrefix('same-id');
    const [a, b] = await Promise.all([
      startNode(url, prefix, { nodeId: 'twin' }),
      startNode(url, prefix, { nodeId: 'twin' }),
    ]);
    nodes.push(a, b);
    const client = b.connect('g', 'u');
    await a.hub.sendGroup('g', { data: 'hello twin' });
    await until(() => client.events.length === 1, 'delivery to the twin');
  });

  it('keeps a sendWhere on its own node, and disconnects across nodes', async () => {
    const [a, b] = await startNodes(2, 'where');
    const here = a!.connect('users', 'u1');
    const there = b!.connect('users', 'u1');
    await a!.hub.sendWhere((client) => client.id === 'u1', { data: 'local' });
    await a!.hub.broadcast({ data: 'after' });
    await until(() => there.events.length === 1 && here.events.length === 2, 'deliveries');
    expect(data(here)).toEqual(['local', 'after']);
    expect(data(there)).toEqual(['after']);

    expect(a!.hub.disconnect({ group: 'users', id: 'u1' })).toBe(1);
    await until(() => there.ended, 'the other node closes its connection');
    expect(b!.hub.connectionCount).toBe(0);
  });

  it('gives every client the same order, the stream order, under concurrent senders', async () => {
    const nodes3 = await startNodes(3, 'order');
    const clients = nodes3.flatMap((node, i) => [
      node.connect('g', `c${i}a`),
      node.connect('g', `c${i}b`),
    ]);
    const perNode = 150;
    const sends: Promise<number>[] = [];
    for (let i = 0; i < perNode; i++) {
      for (const [n, node] of nodes3.entries())
        sends.push(node.hub.broadcast({ data: `${n}:${i}` }));
      if (i % 20 === 0) await sleep(1);
    }
    await Promise.all(sends);
    const total = perNode * nodes3.length;
    await until(() => clients.every((c) => c.events.length >= total), 'all events everywhere');
    await sleep(100);
    const reference = clients[0]!.ids;
    expect(new Set(reference).size).toBe(total);
    for (let i = 1; i < reference.length; i++) {
      expect(compareStreamIds(reference[i - 1]!, reference[i]!)).toBeLessThan(0);
    }
    for (const client of clients) expect(client.ids).toEqual(reference);
    // Each sender's own events stay in its send order.
    for (const n of [0, 1, 2]) {
      const own = data(clients[0]!).filter((d) => d.startsWith(`${n}:`));
      expect(own).toEqual(Array.from({ length: perNode }, (_, i) => `${n}:${i}`));
    }
  });
});

describe('pipelined sends', () => {
  it('stores the sends of one tick in one round trip (one script run per 500), delivered in send order exactly once', async () => {
    const prefix = uniquePrefix('pipeline');
    const { own } = spyClient();
    let pipelines = 0;
    const pipeline = own.pipeline.bind(own);
    own.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
      pipelines++;
      return pipeline(...args);
    }) as Redis['pipeline'];
    const a = await startNode(url, prefix, { nodeId: 'a', redis: own } as never);
    const b = await startNode(url, prefix, { nodeId: 'b' });
    nodes.push(a, b);
    const messages: string[] = [];
    const watcher = new Redis(url);
    await watcher.subscribe(`${prefix}:events`);
    watcher.on('message', (_channel: string, raw: string) => messages.push(raw));
    const there = b.connect('users', 'bob');
    const here = a.connect('users', 'ann');
    // The first send loads the script (NOSCRIPT, then EVAL) on a fresh Redis.
    await a.hub.send({ group: 'users', id: 'nobody' }, { data: 'warm-up' });
    await until(() => messages.length === 1, 'the warm-up message');
    const count = 1_200;
    const sends: Promise<number>[] = [];
    pipelines = 0;
    for (let i = 0; i < count; i++) {
      sends.push(a.hub.send({ group: 'users', id: i % 2 ? 'bob' : 'ann' }, { data: `${i}` }));
    }
    expect(await Promise.all(sends)).toEqual(
      Array.from({ length: count }, (_, i) => (i % 2 ? 0 : 1)),
    );
    // 1 200 sends: three script runs (500, 500, 200) in one pipeline, one message each.
    expect(pipelines).toBe(1);
    await until(() => there.events.length >= count / 2, 'the sends on b');
    await sleep(100);
    expect(messages.length).toBe(4);
    expect(data(there)).toEqual(Array.from({ length: count / 2 }, (_, i) => `${2 * i + 1}`));
    expect(data(here)).toEqual(Array.from({ length: count / 2 }, (_, i) => `${2 * i}`));
    // Ids ordered across the cluster: every client sees increasing stream ids.
    const ids = there.events.map((event) => event.id!);
    expect([...ids].sort(compareStreamIds)).toEqual(ids);
    watcher.disconnect();
    await a.close();
    await own.quit();
  });
});

describe('history', () => {
  it('replays exactly what a client missed when it reconnects to another node mid-stream', async () => {
    const nodes3 = await startNodes(3, 'replay');
    const observer = nodes3[0]!.connect('g', 'observer');
    // Hoppers leave and come back on the next node with their Last-Event-ID, again and again.
    const hoppers = [0, 1, 2].map((i) => ({
      node: i,
      sessions: [nodes3[i]!.connect('g', `hopper${i}`)],
    }));
    let sending = true;
    const senders = nodes3.map(async (node, n) => {
      let i = 0;
      while (sending) {
        await node.hub.broadcast({ data: `${n}:${i++}` });
        if (i % 3 === 0) await sleep(1);
      }
    });
    for (let round = 0; round < 12; round++) {
      await sleep(15 + round * 3);
      for (const hopper of hoppers) {
        const current = hopper.sessions[hopper.sessions.length - 1]!;
        current.leave();
        hopper.node = (hopper.node + 1) % 3;
        hopper.sessions.push(
          nodes3[hopper.node]!.connect('g', current.connection.info.id, {
            lastEventId: current.lastId,
          }),
        );
      }
    }
    sending = false;
    await Promise.all(senders);
    const total = () => observer.events.length;
    await sleep(200);
    const reference = observer.ids;
    expect(total()).toBeGreaterThan(100);
    for (const hopper of hoppers) {
      const got = () => hopper.sessions.flatMap((s) => s.events);
      await until(
        () => got()[got().length - 1]?.id === reference[reference.length - 1],
        'the hopper catches up',
      );
      const events = got();
      expect(events.filter((e) => e.event === 'reset')).toEqual([]);
      const ids = events.map((e) => e.id);
      // Its first session began after the observer's: compare from its first id on.
      const start = reference.indexOf(ids[0]!);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(ids).toEqual(reference.slice(start));
    }
  });

  it('drops events a lagging node delivers late when the client already has them', async () => {
    const prefix = uniquePrefix('lag');
    const a = await startNode(url, prefix, { nodeId: 'a' });
    // Node b's subscriber is reachable through its own client's duplicate().
    const { own, subscribers } = spyClient();
    const b = await startNode(url, prefix, { nodeId: 'b', redis: own } as never);
    nodes.push(a, b);
    const client = a.connect('g', 'u');
    await a.hub.sendGroup('g', { data: 'before' });
    await until(() => b.backplane.watermark === client.lastId, 'b delivered the first event');

    // b stops reading pub/sub, as if it stalled: the next events reach a's client, not b yet.
    const socket = (subscribers[0] as unknown as { stream: { pause(): void; resume(): void } })
      .stream;
    socket.pause();
    for (let i = 0; i < 5; i++) await a.hub.sendGroup('g', { data: `missed-by-b ${i}` });
    await until(() => client.events.length === 6, 'a delivered locally');
    client.leave();
    const hopped = b.connect('g', 'u', { lastEventId: client.lastId });
    await sleep(50);
    socket.resume();
    await a.hub.sendGroup('g', { data: 'after' });
    await until(() => hopped.events.length >= 1, 'the next event on b');
    await sleep(100);
    expect(hopped.events.map((e) => e.data)).toEqual(['after']);
    // Closing the node leaves the client it was given open.
    await b.close();
    expect(own.status).toBe('ready');
    await own.quit();
  });

  it('reads back what it missed while its subscription was away, in order, exactly once', async () => {
    const prefix = uniquePrefix('readback');
    const a = await startNode(url, prefix, { nodeId: 'a' });
    const { own, subscribers } = spyClient();
    const b = await startNode(url, prefix, { nodeId: 'b', redis: own } as never);
    nodes.push(a, b);
    const onA = a.connect('g', 'on-a');
    const onB = b.connect('g', 'on-b');
    await a.hub.sendGroup('g', { data: 'a0' });
    await until(() => onB.events.length === 1, 'first event');

    // b's subscriber drops (the command connection stays) and stays away until both nodes have
    // sent: on a busy machine its usual 50 ms reconnect could come back before any send.
    const subscriber = subscribers[0]!;
    let away = true;
    subscriber.options.retryStrategy = () => (away ? 3_600_000 : 10);
    subscriber.disconnect(true);
    await until(
      () => subscriber.status === 'reconnecting' && !b.backplane.metrics().subscribed,
      'b unsubscribed',
    );
    const fromA: Promise<number>[] = [];
    const fromB: Promise<number>[] = [];
    for (let i = 1; i <= 20; i++) {
      fromA.push(a.hub.sendGroup('g', { data: `a${i}` }));
      if (i % 5 === 0) fromB.push(b.hub.sendGroup('g', { data: `b${i}` }));
    }
    // a's sends are in the stream; b's wait for their place, which the read-back gives them.
    await Promise.all(fromA);
    away = false;
    void subscriber.connect().catch(() => {});
    await Promise.all(fromB);
    await until(() => b.backplane.metrics().resubscribes === 1, 'b resubscribes');
    await until(
      () => onB.events.length === 25 && onA.events.length === 25,
      'everything everywhere',
    );
    await sleep(100);
    expect(b.backplane.metrics().recoveredEvents).toBeGreaterThan(0);
    // One order on both nodes: the stream's.
    expect(onB.ids).toEqual(onA.ids);
    expect(new Set(onB.ids).size).toBe(25);
    await b.close();
    await own.quit();
  });

  it('replays a sendWhere on its own node only', async () => {
    const [a, b] = await startNodes(2, 'where-replay');
    const client = a!.connect('g', 'u', { meta: { vip: true } });
    await a!.hub.sendGroup('g', { data: 'first' });
    await a!.hub.sendWhere((c) => c.meta.vip === true, { data: 'vip only' });
    await a!.hub.sendGroup('g', { data: 'last' });
    await until(() => client.events.length === 3, 'three events');
    const from = client.events[0]!.id;
    const here = a!.connect('g', 'u', { lastEventId: from, meta: { vip: true } });
    const there = b!.connect('g', 'u', { lastEventId: from, meta: { vip: true } });
    await until(() => here.events.length === 2 && there.events.length === 1, 'replays');
    expect(data(here)).toEqual(['vip only', 'last']);
    expect(data(there)).toEqual(['last']);
  });

  it('keeps history across a restart of a single hub without a broker', async () => {
    const prefix = uniquePrefix('restart');
    const first = new RedisBackplane({ redis: url, prefix });
    const hub = new Hub({ history: first.history });
    await first.ready();
    const client = new TestClient();
    client.connection = hub.connect(client.sink, { group: 'g', id: 'u' });
    await hub.sendGroup('g', { data: 'one' });
    await hub.sendGroup('g', { data: 'two' });
    const lastSeen = client.events[0]!.id!;
    await hub.close();

    const second = new RedisBackplane({ redis: url, prefix });
    const again = new Hub({ history: second.history });
    await second.ready();
    const back = new TestClient();
    back.connection = again.connect(back.sink, { group: 'g', id: 'u', lastEventId: lastSeen });
    await until(() => back.events.length === 1, 'the replay after a restart');
    expect(back.events[0]!.data).toBe('two');
    await again.close();
  });

  it('replays app ids, and resets on an unknown or trimmed id', async () => {
    const [a, b] = await startNodes(2, 'reset', { history: { maxEvents: 5 } });
    const first = a!.connect('g', 'u');
    await a!.hub.sendGroup('g', { id: 'app-1', data: 'one' });
    await a!.hub.sendGroup('g', { data: 'two' });
    await until(() => first.events.length === 2, 'two events');
    const again = b!.connect('g', 'u', { lastEventId: 'app-1' });
    await until(() => again.events.length === 1, 'replay after the app id');
    expect(again.events[0]!.data).toBe('two');

    for (const lastEventId of ['never-sent', '99999999999999999999999-0', '1-0']) {
      const unknown = b!.connect('g', 'u', { lastEventId });
      await until(() => unknown.events.length === 1, 'reset');
      expect(unknown.events[0]!.event).toBe('reset');
      expect(unknown.events[0]!.id).toBe(first.lastId);
    }
    expect(b!.errors).toEqual([]);

    // Trimming is approximate (whole blocks): push the first events well out of the stream.
    for (let i = 0; i < 300; i++) await a!.hub.sendGroup('g', { data: `more ${i}` });
    await sleep(50);
    const trimmed = b!.connect('g', 'u', { lastEventId: first.events[1]!.id });
    await until(() => trimmed.events.length >= 1, 'reset after trimming');
    expect(trimmed.events[0]!.event).toBe('reset');
  });
});

describe('backplane info', () => {
  it('sums the live nodes and drops the ones that stop reporting', async () => {
    const [a, b, c] = await startNodes(3, 'info');
    a!.connect('users', 'u1');
    b!.connect('users', 'u2');
    b!.connect('admins', 'x1');
    c!.connect('users', 'u1');
    a!.backplane.report(a!.hub, { intervalMs: 100, ttlMs: 300 });
    b!.backplane.report(b!.hub, { intervalMs: 100, ttlMs: 300 });
    const stopC = c!.backplane.report(c!.hub, { intervalMs: 100, ttlMs: 300 });
    await until(() => true, '');
    await sleep(150);
    const info = await a!.backplane.info();
    expect(info.nodeCount).toBe(3);
    expect(info.nodes.map((n) => n.nodeId)).toEqual(['n0', 'n1', 'n2']);
    expect(info.totals.connectionCount).toBe(4);
    expect(info.totals.clientCount).toBe(4);
    expect(info.totals.groups).toEqual({ users: 3, admins: 1 });
    expect(info.totals.groupCount).toBe(2);
    expect(info.nodes[1]!.info.connectionCount).toBe(2);
    expect(info.nodes[0]!.redis.subscribed).toBe(true);

    stopC(); // as if the node had died: its report expires
    await sleep(450);
    const later = await b!.backplane.info();
    expect(later.nodes.map((n) => n.nodeId)).toEqual(['n0', 'n1']);
    expect(later.totals.connectionCount).toBe(3);
  });
});
