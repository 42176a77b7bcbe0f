import { afterEach, describe, expect, it } from 'vitest';
import { createHandler, type HubRequest, type PlainResponse } from './http.js';
import { Hub, type HubOptions } from './hub.js';
import { MemorySink, tick } from './testing.test-util.js';

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

function setup(options: HubOptions) {
  const hub = new Hub(options);
  hubs.push(hub);
  const handle = createHandler(hub, { publisherKey: 'pk' });
  const request = (url: string, key: string | undefined = 'pk') => {
    const req: HubRequest = {
      method: 'GET',
      url,
      headers: { get: (name) => (name === 'authorization' && key ? `Bearer ${key}` : null) },
      readBody: async () => '',
    };
    return handle(req);
  };
  const presence = async (group: string, key?: string) => {
    const res = (await request(`/api/v1/sse/presence/${group}`, key)) as PlainResponse;
    return { status: res.status, body: JSON.parse(res.body) };
  };
  const open = async (group: string, id: string) => {
    const res = await request(`/api/v1/sse/stream/${group}/${id}`);
    if (res.kind !== 'stream') throw new Error('expected a stream');
    const sink = new MemorySink();
    return { sink, connection: res.connect(sink) };
  };
  return { hub, presence, open };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const presenceEvents = (sink: MemorySink) =>
  sink.events
    .filter((e) => e.event === 'join' || e.event === 'leave')
    .map((e) => `${e.event} ${JSON.parse(e.data).id}`);

describe('presence', () => {
  it('join once per client, leave after the grace period, several tabs are one presence', async () => {
    const t = setup({ presence: { events: ['room'], graceMs: 60 } });
    const watcher = await t.open('room', 'w');
    const a1 = await t.open('room', 'a');
    const a2 = await t.open('room', 'a');
    await tick();
    expect(presenceEvents(watcher.sink)).toEqual(['join w', 'join a']);
    // The join carries {group, id}, with an id like every group send.
    const join = watcher.sink.events.find((e) => e.event === 'join')!;
    expect(JSON.parse(join.data)).toEqual({ group: 'room', id: 'w' });
    expect(join.id).toBeTruthy();

    const listed = await t.presence('room');
    expect(listed).toEqual({
      status: 200,
      body: {
        code: 200,
        data: {
          group: 'room',
          count: 2,
          clients: [
            { id: 'a', connections: 2, meta: {} },
            { id: 'w', connections: 1, meta: {} },
          ],
        },
      },
    });

    a1.connection.closed(); // one tab of two: still present
    a2.connection.closed(); // the last one: leaves after 60 ms unless it comes back
    expect((await t.hub.presence('room')).clients).toContainEqual({
      id: 'a',
      connections: 0,
      meta: {},
    });
    await sleep(20);
    const back = await t.open('room', 'a'); // a reload within the grace period
    await sleep(120);
    expect(presenceEvents(watcher.sink)).toEqual(['join w', 'join a']);
    back.connection.closed();
    await sleep(120);
    expect(presenceEvents(watcher.sink)).toEqual(['join w', 'join a', 'leave a']);
    expect((await t.hub.presence('room')).count).toBe(1);
  });

  it('sends no events to groups not opted in, and the route is an admin route', async () => {
    const t = setup({ presence: { events: /^room_/, graceMs: 0 } });
    const lobby = await t.open('lobby', 'a');
    const room = await t.open('room_1', 'b');
    await tick();
    expect(presenceEvents(lobby.sink)).toEqual([]);
    expect(presenceEvents(room.sink)).toEqual(['join b']);
    expect((await t.presence('lobby')).body.data.count).toBe(1);
    expect((await t.presence('lobby', 'wrong')).status).toBe(403);
    expect((await t.presence('lobby', '')).status).toBe(401);
    expect((await t.presence('bad%20name')).status).toBe(400);
  });

  it('a store that does not answer makes the route a 503, and puts what the hub holds', async () => {
    const puts: unknown[][] = [];
    const t = setup({
      presenceStore: {
        start: () => {},
        put: (...args) => puts.push(['put', ...args]),
        remove: (...args) => puts.push(['remove', ...args]),
        list: () => Promise.reject(new Error('redis is down')),
        close: () => {},
      },
      presence: { graceMs: 0 },
    });
    const a = await t.open('g', 'a');
    a.connection.closed();
    await sleep(20);
    expect(puts).toEqual([
      ['put', 'g', 'a', 1, {}],
      ['put', 'g', 'a', 0, {}],
      ['remove', 'g', 'a'],
    ]);
    const res = await t.presence('g');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 503, error: 'service_unavailable' });
  });

  it('lists the meta the app attached to the first connection', async () => {
    const hub = new Hub();
    hubs.push(hub);
    hub.connect(new MemorySink(), { group: 'g', id: 'a', meta: { name: 'Alice' } });
    hub.connect(new MemorySink(), { group: 'g', id: 'a', meta: { name: 'second tab' } });
    expect(await hub.presence('g')).toEqual({
      group: 'g',
      count: 1,
      clients: [{ id: 'a', connections: 2, meta: { name: 'Alice' } }],
    });
  });
});
