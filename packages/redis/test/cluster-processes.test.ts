/**
 * Three hub processes sharing one Redis, clients spread over them: exactly-once delivery checked
 * by event ids, clients that hop between nodes with Last-Event-ID, cluster info, a dead node.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { compareStreamIds } from '../src/wire.js';
import { sleep, until } from './helpers.js';
import { type HubProcess, publish, startHubProcesses, stopHubProcesses } from './processes.js';
import { FetchClient } from './sse-client.js';

const url = inject('redisUrl');
const processes: HubProcess[] = [];
const base = (n: number) => processes[n]!.base;

beforeAll(async () => {
  processes.push(...(await startHubProcesses(3, 'processes', url, { REPORT_MS: '200' })));
}, 60_000);

afterAll(() => stopHubProcesses(processes));

it('delivers every send exactly once to clients on every node, in one order', async () => {
  // Three steady clients per node, and three that hop to the next node every ~60 ms.
  const steady = [0, 1, 2].flatMap((n) =>
    [0, 1, 2].map((k) => new FetchClient(`${base(n)}/stream/g/s${n}${k}`)),
  );
  const hoppers = [0, 1, 2].map((n) => ({
    node: n,
    sessions: [new FetchClient(`${base(n)}/stream/g/h${n}`)],
  }));
  await until(
    () => [...steady, ...hoppers.map((h) => h.sessions[0]!)].every((c) => c.connected),
    'all connected',
  );

  const perNode = 120;
  let publishing = true;
  const publishers = [0, 1, 2].map(async (n) => {
    for (let i = 0; i < perNode; i++) {
      await publish(base(n), { group: 'g', data: `${n}:${i}` });
      if (i % 10 === 0) await sleep(2);
    }
  });
  const hopping = (async () => {
    while (publishing) {
      await sleep(60);
      for (const hopper of hoppers) {
        const current = hopper.sessions[hopper.sessions.length - 1]!;
        await current.close();
        hopper.node = (hopper.node + 1) % 3;
        // Like EventSource, keep the last id seen in any session (a short one may have none).
        const lastId = hopper.sessions.findLast((s) => s.lastId !== undefined)?.lastId;
        hopper.sessions.push(
          new FetchClient(`${base(hopper.node)}/stream/g/h${hopper.node}`, lastId),
        );
      }
    }
  })();
  await Promise.all(publishers);
  publishing = false;
  await hopping;

  const total = perNode * 3;
  await until(
    () => steady.every((c) => c.events.length >= total),
    'every event everywhere',
    10_000,
  );
  await sleep(200);
  const reference = steady[0]!.events.map((e) => e.id!);
  expect(reference).toHaveLength(total);
  expect(new Set(reference).size).toBe(total);
  for (let i = 1; i < total; i++) {
    expect(compareStreamIds(reference[i - 1]!, reference[i]!)).toBeLessThan(0);
  }
  for (const client of steady) expect(client.events.map((e) => e.id)).toEqual(reference);

  for (const hopper of hoppers) {
    const got = () => hopper.sessions.flatMap((s) => s.events);
    await until(
      () => got().length > 0 && got()[got().length - 1]!.id === reference[total - 1],
      'hopper catches up',
    );
    const ids = got().map((e) => e.id);
    expect(got().filter((e) => e.event === 'reset')).toEqual([]);
    expect(ids).toEqual(reference.slice(reference.indexOf(ids[0]!)));
    expect(hopper.sessions.length).toBeGreaterThan(3);
  }
  await Promise.all(
    [...steady, ...hoppers.map((h) => h.sessions[h.sessions.length - 1]!)].map((c) => c.close()),
  );
}, 60_000);

it('reports cluster totals, and a killed node drops out', async () => {
  const clients = [0, 1, 2, 2].map((n, k) => new FetchClient(`${base(n)}/stream/info/c${k}`));
  await until(() => clients.every((c) => c.connected), 'connected');
  await sleep(500);
  const info = await (await fetch(`http://127.0.0.1:${processes[0]!.port}/backplane/info`)).json();
  expect(info.nodeCount).toBe(3);
  expect(info.totals.groups.info).toBe(4);
  expect(info.nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual(['node0', 'node1', 'node2']);
  expect(info.nodes[2].info.groups.info).toBe(2);

  processes[2]!.child.kill('SIGKILL');
  await sleep(900);
  const later = await (await fetch(`http://127.0.0.1:${processes[1]!.port}/backplane/info`)).json();
  expect(later.nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual(['node0', 'node1']);
  expect(later.totals.groups.info).toBe(2);
  await Promise.all(clients.slice(0, 2).map((c) => c.close()));
}, 30_000);
