/**
 * Presence across three hub processes sharing one Redis: one presence per client whatever the
 * nodes and tabs, join and leave once each, no leave for a client that moves node within the
 * grace period, and the clients of a node killed with SIGKILL leave within 15 s.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { sleep, until } from './helpers.js';
import { adminHeaders, type HubProcess, startHubProcesses, stopHubProcesses } from './processes.js';
import { FetchClient } from './sse-client.js';

const url = inject('redisUrl');
const processes: HubProcess[] = [];
const base = (n: number) => processes[n]!.base;
const GRACE_MS = 1_000;

beforeAll(async () => {
  processes.push(
    ...(await startHubProcesses(3, 'presence', url, {
      PRESENCE_EVENTS: 'room',
      PRESENCE_GRACE_MS: String(GRACE_MS),
    })),
  );
}, 60_000);

afterAll(() => stopHubProcesses(processes));

/** `join a`, `leave b`... as the watcher received them. */
const changes = (client: FetchClient) =>
  client.events
    .filter((e) => e.event === 'join' || e.event === 'leave')
    .map((e) => `${e.event} ${JSON.parse(e.data).id}`);

async function presence(n: number, group: string) {
  const response = await fetch(`${base(n)}/presence/${group}`, { headers: adminHeaders() });
  expect(response.status).toBe(200);
  const body = await response.json();
  expect(body.code).toBe(200);
  return body.data as {
    group: string;
    count: number;
    clients: { id: string; connections: number }[];
  };
}

/** Waits for `check`, returning how long it took from `since`. */
async function timed(since: number, check: () => boolean, what: string, timeoutMs = 20_000) {
  await until(check, what, timeoutMs);
  return Date.now() - since;
}

const figures: Record<string, number> = {};
afterAll(() => console.log('presence figures (ms):', JSON.stringify(figures)));

it('one presence per client across nodes and tabs; join once, leave once after the grace period', async () => {
  const watcher = new FetchClient(`${base(0)}/stream/room/w`);
  await until(() => changes(watcher).includes('join w'), 'the watcher joins');

  const opened = Date.now();
  const tabs = [1, 1, 2].map((n) => new FetchClient(`${base(n)}/stream/room/a`));
  figures.join = await timed(opened, () => changes(watcher).includes('join a'), 'join a');
  await until(() => tabs.every((t) => t.connected), 'tabs connected');
  // Every node answers for the whole cluster.
  for (const n of [0, 1, 2]) {
    let listed = await presence(n, 'room');
    for (let i = 0; i < 50 && listed.clients.find((c) => c.id === 'a')?.connections !== 3; i++) {
      await sleep(50);
      listed = await presence(n, 'room');
    }
    expect(listed).toMatchObject({
      group: 'room',
      count: 2,
      clients: [
        { id: 'a', connections: 3, meta: {} },
        { id: 'w', connections: 1, meta: {} },
      ],
    });
  }

  // A reload that lands on another node within the grace period: every tab closes, one opens
  // on node 0. Never a leave, never a second join.
  await Promise.all(tabs.map((t) => t.close()));
  await sleep(GRACE_MS / 4);
  const back = new FetchClient(`${base(0)}/stream/room/a`);
  await sleep(GRACE_MS * 2.5);
  expect(changes(watcher)).toEqual(['join w', 'join a']);
  expect((await presence(2, 'room')).clients).toContainEqual({ id: 'a', connections: 1, meta: {} });

  const closed = Date.now();
  await back.close();
  figures.leaveAfterGrace = await timed(
    closed,
    () => changes(watcher).includes('leave a'),
    'leave a',
  );
  expect(figures.leaveAfterGrace).toBeGreaterThanOrEqual(GRACE_MS - 50);
  expect(changes(watcher)).toEqual(['join w', 'join a', 'leave a']);
  expect((await presence(1, 'room')).clients.map((c) => c.id)).toEqual(['w']);
  await watcher.close();
}, 60_000);

it('the clients of a node killed with SIGKILL leave within 15 s', async () => {
  const watcher = new FetchClient(`${base(0)}/stream/room/w2`);
  await until(() => changes(watcher).includes('join w2'), 'the watcher joins');
  const victim = new FetchClient(`${base(2)}/stream/room/b`);
  await until(() => changes(watcher).includes('join b'), 'join b');
  expect((await presence(1, 'room')).clients.map((c) => c.id)).toContain('b');

  const killed = Date.now();
  processes[2]!.child.kill('SIGKILL');
  figures.nodeDeathLeave = await timed(
    killed,
    () => changes(watcher).includes('leave b'),
    'leave b after the kill',
    15_000,
  );
  expect(figures.nodeDeathLeave).toBeLessThan(15_000);
  expect(changes(watcher).filter((c) => c === 'leave b')).toHaveLength(1);
  expect((await presence(1, 'room')).clients.map((c) => c.id)).toEqual(['w2']);
  await Promise.all([watcher.close(), victim.close()]);
}, 40_000);
