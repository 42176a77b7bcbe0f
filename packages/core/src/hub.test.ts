import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionInfo, DisconnectReason } from './connection.js';
import { SSEError } from './errors.js';
import { newEvent, typedEvent } from './event.js';
import { type HistoryStore, MemoryHistory, type ReplayResult } from './history.js';
import { Hub } from './hub.js';
import { MemorySink, tick } from './testing.test-util.js';

const hubs: Hub[] = [];
function makeHub(options: ConstructorParameters<typeof Hub>[0] = {}) {
  const hub = new Hub(options);
  hubs.push(hub);
  return hub;
}
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

function open(hub: Hub, group: string, id: string, lastEventId?: string) {
  const sink = new MemorySink();
  const connection = hub.connect(sink, { group, id, lastEventId });
  return { sink, connection };
}

describe('connection opening', () => {
  it('writes retry and a connected event at once, in one chunk', async () => {
    const hub = makeHub({ retryMs: 1500, retryJitter: 0 });
    const { sink, connection } = open(hub, 'users', 'alice');
    await tick();
    expect(sink.chunks).toHaveLength(1);
    expect(sink.retries).toEqual([1500]);
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]!.event).toBe('connected');
    // No id: the connected event must not move the browser's Last-Event-ID.
    expect(sink.events[0]!.id).toBeUndefined();
    expect(JSON.parse(sink.events[0]!.data)).toEqual({
      id: 'alice',
      group: 'users',
      connectionId: connection.info.connectionId,
    });
  });
});

describe('retry jitter', () => {
  it("spreads each connection's retry between retryMs and retryMs × (1 + retryJitter)", async () => {
    const hub = makeHub({ retryMs: 1000 });
    const retries: number[] = [];
    for (let i = 0; i < 200; i++) {
      const { sink } = open(hub, 'g', `c${i}`);
      await tick();
      retries.push(...sink.retries);
    }
    expect(Math.min(...retries)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...retries)).toBeLessThanOrEqual(1500);
    // 200 draws over 500 ms of spread: far more than a handful of distinct values.
    expect(new Set(retries).size).toBeGreaterThan(100);
  });
});

describe('sends', () => {
  it('unicast reaches every connection of that client and nobody else', async () => {
    const hub = makeHub();
    const tab1 = open(hub, 'users', 'alice');
    const tab2 = open(hub, 'users', 'alice');
    const bob = open(hub, 'users', 'bob');
    const otherGroup = open(hub, 'admins', 'alice');
    expect(
      await hub.send({ group: 'users', id: 'alice' }, typedEvent('notification', { n: 1 })),
    ).toBe(2);
    await tick();
    expect(tab1.sink.appEvents.map((e) => e.data)).toEqual(['{"n":1}']);
    expect(tab2.sink.appEvents.map((e) => e.data)).toEqual(['{"n":1}']);
    expect(bob.sink.appEvents).toHaveLength(0);
    expect(otherGroup.sink.appEvents).toHaveLength(0);
  });

  it('names a client as { group, id } only: strings from JavaScript get a TypeError', async () => {
    const hub = makeHub();
    open(hub, 'users', 'alice');
    const loose = hub as unknown as Record<string, (...args: unknown[]) => unknown>;
    await expect(loose.send!('alice', 'users', newEvent('x'))).rejects.toThrow(
      /hub\.send\(\) names a client as an object \{ group, id \}, got the string "alice"/,
    );
    expect(() => loose.disconnect!('users', 'alice')).toThrow(TypeError);
    expect(() => loose.connectionsOf!('users', 'alice')).toThrow(
      /hub\.connectionsOf\(\) names a client as an object \{ group, id \}/,
    );
    await expect(loose.sendMany!(['alice'], newEvent('x'))).rejects.toBeInstanceOf(TypeError);
    await expect(loose.sendMany!({ group: 'users', id: 'alice' }, newEvent('x'))).rejects.toThrow(
      /takes a list of clients/,
    );
    await expect(loose.send!({ group: 'users' }, newEvent('x'))).rejects.toBeInstanceOf(TypeError);
    // Nothing was sent or closed by the rejected calls.
    expect(hub.connectionsOf({ group: 'users', id: 'alice' })).toBe(1);
    expect(hub.info().counters.eventsSent).toBe(0);
  });

  it('group, broadcast, list and predicate sends reach exactly their targets', async () => {
    const hub = makeHub();
    const a = open(hub, 'g1', 'a');
    const b = open(hub, 'g1', 'b');
    const c = open(hub, 'g2', 'c');
    expect(await hub.sendGroup('g1', newEvent('group'))).toBe(2);
    expect(await hub.broadcast(newEvent('all'))).toBe(3);
    expect(
      await hub.sendMany(
        [
          { group: 'g1', id: 'a' },
          { group: 'g2', id: 'c' },
          { group: 'g9', id: 'x' },
        ],
        newEvent('list'),
      ),
    ).toBe(2);
    expect(await hub.sendWhere((client) => client.id !== 'a', newEvent('where'))).toBe(2);
    expect(await hub.sendGroup('nobody', newEvent('none'))).toBe(0);
    await tick();
    expect(a.sink.appEvents.map((e) => e.data)).toEqual(['group', 'all', 'list']);
    expect(b.sink.appEvents.map((e) => e.data)).toEqual(['group', 'all', 'where']);
    expect(c.sink.appEvents.map((e) => e.data)).toEqual(['all', 'list', 'where']);
  });

  it('named filters select clients by their meta', async () => {
    const hub = makeHub({ filters: { role: (client, args) => client.meta.role === args } });
    const admin = new MemorySink();
    hub.connect(admin, { group: 'g', id: 'root', meta: { role: 'admin' } });
    const user = open(hub, 'g', 'u');
    expect(await hub.sendFilter('role', 'admin', typedEvent('admin_alert', 'disk full'))).toBe(1);
    await expect(hub.sendFilter('nope', 1, newEvent(1))).rejects.toThrow(/No filter/);
    await tick();
    expect(admin.appEvents.map((e) => e.data)).toEqual(['disk full']);
    expect(user.sink.appEvents).toHaveLength(0);
  });

  it('encodes once and writes the very same bytes to every recipient', async () => {
    const hub = makeHub();
    const sinks = Array.from({ length: 5 }, (_, i) => open(hub, 'g', `c${i}`).sink);
    await tick();
    for (const s of sinks) s.chunks = [];
    await hub.broadcast(newEvent({ big: 'x'.repeat(1000) }));
    await tick();
    const first = sinks[0]!.chunks[0]!;
    for (const s of sinks) expect(s.chunks[0]).toBe(first);
  });

  it('gives every event an ordered id unless the app chose one', async () => {
    const hub = makeHub();
    const { sink } = open(hub, 'g', 'a');
    await hub.broadcast(newEvent(1));
    await hub.broadcast(newEvent(2, { id: 'mine' }));
    await hub.broadcast(newEvent(3));
    await tick();
    const ids = sink.appEvents.map((e) => e.id!);
    expect(ids[1]).toBe('mine');
    const [epoch1, seq1] = ids[0]!.split('-');
    const [epoch3, seq3] = ids[2]!.split('-');
    expect(epoch1).toBe(epoch3);
    expect(Number(seq3)).toBeGreaterThan(Number(seq1));
  });

  it('coalesces everything queued to a connection in one tick into one chunk', async () => {
    const hub = makeHub();
    const { sink } = open(hub, 'g', 'a');
    await tick();
    sink.chunks = [];
    for (let i = 0; i < 20; i++) void hub.broadcast(newEvent(i));
    await tick();
    expect(sink.chunks).toHaveLength(1);
    expect(sink.appEvents).toHaveLength(20);
  });

  it('rejects invalid events with a clear error and sends nothing', async () => {
    const hub = makeHub();
    const { sink } = open(hub, 'g', 'a');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(hub.broadcast({ event: 'bad\nname', data: 1 })).rejects.toBeInstanceOf(SSEError);
    await expect(hub.broadcast({ data: 1, id: 'x\ny' })).rejects.toThrow(/CR, LF or NUL/);
    await expect(hub.broadcast({ data: cyclic })).rejects.toThrow(/JSON/);
    await expect(hub.broadcast({ data: 10n })).rejects.toThrow(SSEError);
    await expect(hub.broadcast({ data: 1, retry: -1 })).rejects.toThrow(SSEError);
    // Ids that would not come back intact in Last-Event-ID on reconnect.
    await expect(hub.broadcast({ data: 1, id: '' })).rejects.toThrow(/empty/);
    await expect(hub.broadcast({ data: 1, id: 'x'.repeat(257) })).rejects.toThrow(/at most 256/);
    for (const id of [' a', 'a ', '\ta', 'a\t']) {
      await expect(hub.broadcast({ data: 1, id })).rejects.toThrow(/space or tab/);
    }
    await tick();
    expect(sink.appEvents).toHaveLength(0);
    expect(hub.info().counters.eventsSent).toBe(0);
  });
});

describe('unicast bytes of a tick', () => {
  it('stay intact for a flush that a hook queued during the writes of the one before', async () => {
    let hub!: Hub;
    // A hook that sends while the hub writes: its event waits for the next flush.
    hub = makeHub({
      onDisconnect: (connection) => {
        if (connection.id === 'a')
          void hub.send({ group: 'g', id: 'b' }, { data: 'sent-by-the-hook' });
      },
    });
    const a = open(hub, 'g', 'a');
    const b = open(hub, 'g', 'b');
    const c = open(hub, 'g', 'c');
    const d = open(hub, 'g', 'd');
    await tick();
    // The transport of `a` fails in the middle of its write.
    const write = a.sink.write.bind(a.sink);
    a.sink.write = (chunk) => {
      write(chunk);
      a.connection.closed(new Error('reset'));
      return true;
    };
    void hub.send({ group: 'g', id: 'a' }, { data: 'to-a' });
    void hub.send({ group: 'g', id: 'c' }, { data: 'to-c' });
    // Runs between that flush and the one the hook queued: its bytes must not take the hook's.
    const between = `to-d-between-${'x'.repeat(300)}`;
    queueMicrotask(() => void hub.send({ group: 'g', id: 'd' }, { data: between }));
    await tick();
    expect(a.sink.appEvents.map((e) => e.data)).toEqual(['to-a']);
    expect(b.sink.appEvents.map((e) => e.data)).toEqual(['sent-by-the-hook']);
    expect(c.sink.appEvents.map((e) => e.data)).toEqual(['to-c']);
    expect(d.sink.appEvents.map((e) => e.data)).toEqual([between]);
    // Later ticks reuse the blocks: still each client its own events.
    for (let round = 0; round < 3; round++) {
      for (const name of ['b', 'c', 'd'])
        void hub.send({ group: 'g', id: name }, { data: `${name}-${round}` });
      await tick();
    }
    expect(b.sink.appEvents.map((e) => e.data).slice(1)).toEqual(['b-0', 'b-1', 'b-2']);
    expect(d.sink.appEvents.map((e) => e.data).slice(1)).toEqual(['d-0', 'd-1', 'd-2']);
  });
});

describe('disconnect, info and hooks', () => {
  it('disconnect closes every connection of the client and reports kicked', async () => {
    const reasons: DisconnectReason[] = [];
    const hub = makeHub({ onDisconnect: (_c, reason) => reasons.push(reason) });
    const t1 = open(hub, 'g', 'a');
    const t2 = open(hub, 'g', 'a');
    const other = open(hub, 'g', 'b');
    expect(hub.disconnect({ group: 'g', id: 'a' })).toBe(2);
    expect(t1.sink.closed && t2.sink.closed).toBe(true);
    expect(other.sink.closed).toBe(false);
    expect(reasons).toEqual(['kicked', 'kicked']);
    // What was queued before the kick is flushed first.
    expect(t1.sink.events[0]?.event).toBe('connected');
    expect(hub.disconnect({ group: 'g', id: 'a' })).toBe(0);
  });

  it("calls a connection's onClose listeners once, with the reason", async () => {
    const hub = makeHub();
    const { connection } = open(hub, 'g', 'a');
    const seen: DisconnectReason[] = [];
    connection.onClose((reason) => seen.push(reason));
    hub.disconnect({ group: 'g', id: 'a' });
    connection.closed();
    expect(seen).toEqual(['kicked']);
    connection.onClose(() => seen.push('error'));
    expect(seen).toEqual(['kicked']);
  });

  it('counts groups, clients and connections, and forgets empty ones', async () => {
    const hub = makeHub();
    const a1 = open(hub, 'g1', 'a');
    open(hub, 'g1', 'a');
    open(hub, 'g1', 'b');
    open(hub, 'g2', 'c');
    let info = hub.info();
    expect(info).toMatchObject({
      groupCount: 2,
      clientCount: 3,
      connectionCount: 4,
      groups: { g1: 2, g2: 1 },
    });
    expect(hub.groupSize('g1')).toBe(2);
    expect(hub.groupClients('g1').sort()).toEqual(['a', 'b']);
    a1.connection.closed();
    expect(hub.info().clientCount).toBe(3);
    hub.disconnect({ group: 'g1', id: 'a' });
    hub.disconnect({ group: 'g2', id: 'c' });
    info = hub.info();
    expect(info).toMatchObject({
      groupCount: 1,
      clientCount: 1,
      connectionCount: 1,
      groups: { g1: 1 },
    });
    expect(info.counters.connectionsOpened).toBe(4);
    expect(info.counters.connectionsClosed).toBe(3);
  });

  it('counts events sent, delivered and bytes written', async () => {
    const hub = makeHub();
    const { sink } = open(hub, 'g', 'a');
    open(hub, 'g', 'b');
    await hub.broadcast(newEvent('x'));
    await tick();
    const { counters } = hub.info();
    expect(counters.eventsSent).toBe(1);
    expect(counters.eventsDelivered).toBe(2);
    expect(counters.bytesWritten).toBeGreaterThan(sink.text().length);
  });

  it('calls onConnect and onDisconnect with the reason; a throwing hook goes to onError', async () => {
    const errors: string[] = [];
    const hub = makeHub({
      onConnect: () => {
        throw new Error('boom');
      },
      onError: (_e, context) => errors.push(context),
    });
    const { connection } = open(hub, 'g', 'a');
    expect(errors).toEqual(['onConnect']);
    expect(hub.connectionCount).toBe(1);
    connection.closed();
    expect(hub.connectionCount).toBe(0);
  });

  it('gives hooks and predicates a read-only view of the connection, the same one throughout', async () => {
    const seen: ConnectionInfo[] = [];
    const hub = makeHub({
      onConnect: (c) => seen.push(c),
      onDisconnect: (c) => seen.push(c),
    });
    const { connection, sink } = open(hub, 'g', 'a');
    sink.accept = false;
    await tick();
    await hub.sendWhere((c) => {
      seen.push(c as ConnectionInfo);
      return true;
    }, newEvent('queued'));
    const view = seen[0]!;
    expect(seen[1]).toBe(view);
    expect(view).toBe(connection.info);
    expect(view).toMatchObject({
      group: 'g',
      id: 'a',
      closed: false,
      replaying: false,
      blocked: true,
      queuedEvents: 1,
    });
    expect(view.queuedBytes).toBeGreaterThan(0);
    // Nothing of the hub's state is reachable or writable through the view.
    expect(() => {
      (view as { closed: boolean }).closed = true;
    }).toThrow(TypeError);
    expect(Object.keys(view)).toEqual([]);
    expect('queue' in view || 'held' in view || 'push' in view).toBe(false);
    expect(hub.connectionCount).toBe(1);
    hub.disconnect({ group: 'g', id: 'a' });
    expect(seen[2]).toBe(view);
    expect(view.closed).toBe(true);
  });

  it('sendToConnection writes to that connection only, after its replay, without moving Last-Event-ID', async () => {
    const memory = new MemoryHistory();
    let answer: () => void = () => {};
    // A shared history that answers a replay later, as Redis does.
    const history: HistoryStore = {
      append: (event, id) => memory.append(event, id),
      since: (id, matches) => {
        const result = memory.since(id, matches) as ReplayResult;
        return new Promise<ReplayResult>((resolve) => {
          answer = () => resolve(result);
        });
      },
    };
    const hub = makeHub({
      history,
      onConnect: (c) => {
        expect(hub.sendToConnection(c, { event: 'marker', data: { live: c.connectionId } })).toBe(
          true,
        );
      },
    });
    const first = open(hub, 'g', 'a');
    await hub.broadcast(newEvent('before'));
    await tick();
    const lastSeen = first.sink.appEvents.at(-1)!.id!;
    first.connection.closed();
    await hub.broadcast(newEvent('missed'));
    const other = open(hub, 'g', 'b');
    const again = open(hub, 'g', 'a', lastSeen);
    expect(again.connection.info.replaying).toBe(true);
    await hub.broadcast(newEvent('live'));
    answer();
    await tick();
    expect(again.sink.appEvents.map((e) => [e.event, e.data, e.id])).toEqual([
      [undefined, 'missed', expect.any(String)],
      ['marker', JSON.stringify({ live: again.connection.info.connectionId }), undefined],
      [undefined, 'live', expect.any(String)],
    ]);
    expect(other.sink.appEvents.filter((e) => e.event === 'marker')).toHaveLength(1);
    expect(() => hub.sendToConnection({ group: 'g', id: 'a' } as never, newEvent('x'))).toThrow(
      TypeError,
    );
    const info = again.connection.info;
    again.connection.closed();
    expect(hub.sendToConnection(info, newEvent('too late'))).toBe(false);
  });

  it('close() writes what was queued even to a transport that is full, then ends the stream', async () => {
    const hub = makeHub();
    const { sink } = open(hub, 'g', 'a');
    sink.accept = false;
    await tick();
    await hub.broadcast(newEvent('queued 1'));
    await hub.broadcast(newEvent('queued 2'));
    await tick();
    expect(sink.appEvents).toHaveLength(0);
    await hub.close();
    expect(sink.appEvents.map((e) => e.data)).toEqual(['queued 1', 'queued 2']);
    expect(sink.closed).toBe(true);
  });

  it('close() ends every stream, clears timers and refuses further use', async () => {
    const reasons: DisconnectReason[] = [];
    const hub = makeHub({ onDisconnect: (_c, r) => reasons.push(r) });
    const { sink } = open(hub, 'g', 'a');
    void hub.broadcast(newEvent('last words'));
    await hub.close();
    expect(sink.closed).toBe(true);
    expect(sink.appEvents.map((e) => e.data)).toEqual(['last words']);
    expect(reasons).toEqual(['shutdown']);
    await expect(hub.broadcast(newEvent(1))).rejects.toMatchObject({ code: 'hub_closed' });
    expect(() => open(hub, 'g', 'b')).toThrow(SSEError);
  });
});

describe('heartbeat and stall sweep', () => {
  it('writes a heartbeat comment when nothing else was written for heartbeatMs', async () => {
    vi.useFakeTimers();
    const hub = makeHub({ heartbeatMs: 1000 });
    const { sink } = open(hub, 'g', 'a');
    await vi.advanceTimersByTimeAsync(200);
    expect(sink.comments).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sink.comments.length).toBeGreaterThanOrEqual(1);
    // A busy connection gets no heartbeat.
    const before = sink.comments.length;
    for (let t = 0; t < 20; t++) {
      void hub.broadcast(newEvent(t));
      await vi.advanceTimersByTimeAsync(200);
    }
    expect(sink.comments.length).toBe(before);
  });

  it('never leaves a connection silent for longer than heartbeatMs', async () => {
    vi.useFakeTimers();
    const hub = makeHub({ heartbeatMs: 1000 });
    const { sink } = open(hub, 'g', 'a');
    const writes: number[] = [];
    const write = sink.write.bind(sink);
    sink.write = (chunk) => {
      writes.push(Date.now());
      return write(chunk);
    };
    await vi.advanceTimersByTimeAsync(10_000);
    const gaps = writes.slice(1).map((t, i) => t - writes[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000);
    // ...and no more often than three quarters of it.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(750);
    expect(writes.length).toBeGreaterThanOrEqual(10);
  });

  it('closes a connection as stalled when its transport has not drained for idleTimeoutMs', async () => {
    vi.useFakeTimers();
    const reasons: DisconnectReason[] = [];
    const hub = makeHub({
      idleTimeoutMs: 3000,
      sweepIntervalMs: 500,
      onDisconnect: (_c, r) => reasons.push(r),
    });
    const stuck = open(hub, 'g', 'stuck');
    const fine = open(hub, 'g', 'fine');
    stuck.sink.accept = false;
    void hub.broadcast(newEvent('x'));
    await vi.advanceTimersByTimeAsync(2000);
    expect(stuck.sink.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    expect(stuck.sink.closed).toBe(true);
    expect(fine.sink.closed).toBe(false);
    expect(reasons).toEqual(['stalled']);
    expect(hub.info().counters.stalledDisconnects).toBe(1);
  });

  it('runs no timers without connections', async () => {
    vi.useFakeTimers();
    const hub = makeHub();
    expect(vi.getTimerCount()).toBe(0);
    const { connection } = open(hub, 'g', 'a');
    expect(vi.getTimerCount()).toBe(2);
    connection.closed();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('token expiry', () => {
  it('ends a stream at expiresAt, reason expired, after what was queued, and counts it', async () => {
    vi.useFakeTimers();
    const reasons: DisconnectReason[] = [];
    const hub = makeHub({ onDisconnect: (_c, r) => reasons.push(r) });
    const sink = new MemorySink();
    hub.connect(sink, { group: 'g', id: 'a', expiresAt: Date.now() + 5000 });
    const plain = open(hub, 'g', 'b');
    await vi.advanceTimersByTimeAsync(4999);
    expect(sink.closed).toBe(false);
    // A full transport: 'queued' waits for a drain that never comes, yet goes out before the end.
    sink.accept = false;
    void hub.broadcast(newEvent('first'));
    await vi.advanceTimersByTimeAsync(0);
    void hub.broadcast(newEvent('queued'));
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.appEvents.map((e) => e.data)).toEqual(['first']);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.closed).toBe(true);
    expect(sink.closeReason).toBe('expired');
    expect(sink.appEvents.map((e) => e.data)).toEqual(['first', 'queued']);
    expect(reasons).toEqual(['expired']);
    expect(plain.sink.closed).toBe(false);
    expect(hub.info().counters.expiredDisconnects).toBe(1);
    expect(hub.connectionCount).toBe(1);
  });

  it('costs no timer without an expiry, and clears its timer when the stream ends first', async () => {
    vi.useFakeTimers();
    const hub = makeHub();
    open(hub, 'g', 'plain');
    // Heartbeat and sweep only.
    expect(vi.getTimerCount()).toBe(2);
    const sink = new MemorySink();
    const connection = hub.connect(sink, { group: 'g', id: 'a', expiresAt: Date.now() + 60_000 });
    expect(vi.getTimerCount()).toBe(3);
    connection.closed();
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(hub.info().counters.expiredDisconnects).toBe(0);
  });

  it("re-arms past setTimeout's 24.8-day ceiling instead of firing at once", async () => {
    vi.useFakeTimers();
    const hub = makeHub({ heartbeatMs: 86_400_000, sweepIntervalMs: 86_400_000 });
    const day = 86_400_000;
    const sink = new MemorySink();
    hub.connect(sink, { group: 'g', id: 'a', expiresAt: Date.now() + 30 * day });
    await vi.advanceTimersByTimeAsync(29 * day);
    expect(sink.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(day);
    expect(sink.closeReason).toBe('expired');
  });

  it('an expiry already past ends the stream on the next turn, after the connected event', async () => {
    vi.useFakeTimers();
    const hub = makeHub();
    const sink = new MemorySink();
    const connection = hub.connect(sink, { group: 'g', id: 'a', expiresAt: Date.now() - 1 });
    expect(connection.info.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.closeReason).toBe('expired');
    expect(sink.events.map((e) => e.event)).toEqual(['connected']);
  });

  it('refuses an expiresAt that is not a finite number, registering nothing', () => {
    const hub = makeHub();
    expect(() =>
      hub.connect(new MemorySink(), { group: 'g', id: 'a', expiresAt: Number.NaN }),
    ).toThrow(TypeError);
    expect(hub.connectionCount).toBe(0);
  });
});

describe('slow clients', () => {
  it('disconnect policy: a client that cannot keep up is closed as slow; others are untouched', async () => {
    const reasons: DisconnectReason[] = [];
    const hub = makeHub({ maxQueuedEvents: 10, onDisconnect: (_c, r) => reasons.push(r) });
    const slow = open(hub, 'g', 'slow');
    const fast = open(hub, 'g', 'fast');
    slow.sink.accept = false;
    await tick();
    for (let i = 0; i < 30; i++) await hub.broadcast(newEvent(i));
    await tick();
    expect(slow.sink.closed).toBe(true);
    expect(reasons).toEqual(['slow']);
    expect(fast.sink.appEvents).toHaveLength(30);
    expect(hub.info().counters.slowDisconnects).toBe(1);
  });

  it('drop-oldest policy: keeps the newest events and counts the dropped ones', async () => {
    const hub = makeHub({ maxQueuedEvents: 5, slowClientPolicy: 'drop-oldest' });
    const slow = open(hub, 'g', 'slow');
    slow.sink.accept = false;
    await tick();
    for (let i = 0; i < 12; i++) await hub.broadcast(newEvent(i));
    slow.sink.accept = true;
    slow.connection.drain();
    expect(slow.sink.appEvents.map((e) => e.data)).toEqual(['7', '8', '9', '10', '11']);
    expect(hub.info().counters.eventsDropped).toBe(7);
    expect(slow.sink.closed).toBe(false);
  });

  it('a burst bigger than the queue is no reason to disconnect a client that keeps up', async () => {
    const hub = makeHub({ maxQueuedEvents: 10 });
    const { sink } = open(hub, 'g', 'a');
    for (let i = 0; i < 100; i++) void hub.broadcast(newEvent(i));
    await tick();
    expect(sink.closed).toBe(false);
    expect(sink.appEvents).toHaveLength(100);
  });

  it('bounds the queue in bytes too', async () => {
    const hub = makeHub({ maxQueuedBytes: 1000 });
    const slow = open(hub, 'g', 'slow');
    slow.sink.accept = false;
    await tick();
    await hub.broadcast(newEvent('x'.repeat(600)));
    expect(slow.sink.closed).toBe(false);
    await hub.broadcast(newEvent('x'.repeat(600)));
    expect(slow.sink.closed).toBe(true);
  });

  it('unicasts of one tick leave as one chunk, in order with broadcasts, non-ASCII intact', async () => {
    const hub = makeHub();
    const alice = open(hub, 'users', 'alice');
    await tick();
    const before = alice.sink.chunks.length;
    void hub.send({ group: 'users', id: 'alice' }, newEvent('a1'));
    void hub.broadcast(newEvent('all'));
    void hub.send({ group: 'users', id: 'alice' }, newEvent('é ✓ 😀'));
    void hub.sendMany(
      [
        { group: 'users', id: 'alice' },
        { group: 'users', id: 'alice' },
      ],
      newEvent('listed twice'),
    );
    void hub.send({ group: 'users', id: 'alice' }, newEvent('a2'));
    await tick();
    expect(alice.sink.chunks.length).toBe(before + 1);
    expect(alice.sink.appEvents.map((e) => e.data)).toEqual([
      'a1',
      'all',
      'é ✓ 😀',
      'listed twice',
      'a2',
    ]);
    const ids = alice.sink.appEvents.map((e) => e.id!);
    expect(new Set(ids).size).toBe(5);
    // Replay from the first id returns the rest, encoded from the history.
    const again = open(hub, 'users', 'alice', ids[0]);
    await tick();
    expect(again.sink.appEvents.map((e) => e.data)).toEqual([
      'all',
      'é ✓ 😀',
      'listed twice',
      'a2',
    ]);
    expect(again.sink.appEvents.map((e) => e.id)).toEqual(ids.slice(1));
  });

  it('counts queued unicast text in bytes against maxQueuedBytes', async () => {
    const hub = makeHub({ maxQueuedBytes: 1000 });
    const slow = open(hub, 'g', 'slow');
    slow.sink.accept = false;
    await tick();
    await hub.send({ group: 'g', id: 'slow' }, newEvent('x'.repeat(600)));
    expect(slow.sink.closed).toBe(false);
    await hub.send({ group: 'g', id: 'slow' }, newEvent('é'.repeat(300)));
    expect(slow.sink.closed).toBe(true);
  });

  it('after drain the queued events leave in order', async () => {
    const hub = makeHub();
    const c = open(hub, 'g', 'a');
    c.sink.accept = false;
    await tick();
    await hub.broadcast(newEvent(1));
    await tick();
    c.sink.accept = true;
    for (let i = 2; i <= 5; i++) await hub.broadcast(newEvent(i));
    await tick();
    // The first flush (retry + connected) already found the transport full.
    expect(c.sink.appEvents).toHaveLength(0);
    c.connection.drain();
    expect(c.sink.appEvents.map((e) => e.data)).toEqual(['1', '2', '3', '4', '5']);
  });
});

describe('replay', () => {
  it('replays exactly what this client missed, in order, then goes live', async () => {
    const hub = makeHub();
    const first = open(hub, 'g1', 'a');
    await hub.broadcast(newEvent('b1'));
    await tick();
    const lastSeen = first.sink.appEvents.at(-1)!.id!;
    first.connection.closed();
    await hub.send({ group: 'g1', id: 'a' }, newEvent('mine'));
    await hub.send({ group: 'g1', id: 'b' }, newEvent('not mine'));
    await hub.sendGroup('g1', newEvent('my group'));
    await hub.sendGroup('g2', newEvent('other group'));
    await hub.broadcast(newEvent('b2'));
    await hub.sendMany([{ group: 'g1', id: 'a' }], newEvent('listed'));
    const again = open(hub, 'g1', 'a', lastSeen);
    await hub.broadcast(newEvent('live'));
    await tick();
    expect(again.sink.appEvents.map((e) => e.data)).toEqual([
      'mine',
      'my group',
      'b2',
      'listed',
      'live',
    ]);
    expect(hub.info().counters.eventsReplayed).toBe(4);
  });

  it('a replay larger than the slow-client queue is delivered whole, not treated as slowness', async () => {
    const reasons: DisconnectReason[] = [];
    const hub = makeHub({ maxQueuedEvents: 10, onDisconnect: (_c, r) => reasons.push(r) });
    const watcher = open(hub, 'g', 'w');
    for (let i = 0; i < 500; i++) await hub.broadcast(newEvent(i));
    await tick();
    const late = new MemorySink();
    // A transport that reports itself full after every write, as a socket does under a burst.
    late.accept = false;
    const connection = hub.connect(late, {
      group: 'g',
      id: 'late',
      lastEventId: watcher.sink.appEvents[0]!.id,
    });
    await hub.broadcast(newEvent('live'));
    await tick();
    expect(late.closed).toBe(false);
    expect(reasons).toEqual([]);
    expect(late.appEvents.map((e) => e.data)).toEqual(
      Array.from({ length: 499 }, (_, i) => String(i + 1)),
    );
    // The live event waits for the transport, then follows the replay.
    late.accept = true;
    connection.drain();
    expect(late.appEvents.at(-1)?.data).toBe('live');
    expect(late.appEvents).toHaveLength(500);
  });

  it('sends reset with the newest id when the Last-Event-ID is unknown or too old', async () => {
    const hub = makeHub({ history: { maxEvents: 3 } });
    const c = open(hub, 'g', 'a');
    for (let i = 0; i < 5; i++) await hub.broadcast(newEvent(i));
    await tick();
    const ids = c.sink.appEvents.map((e) => e.id!);
    const stale = open(hub, 'g', 'a', ids[0]);
    const unknown = open(hub, 'g', 'a', 'never-sent');
    const fresh = open(hub, 'g', 'a', ids[2]);
    await tick();
    for (const s of [stale.sink, unknown.sink]) {
      expect(s.appEvents).toHaveLength(1);
      expect(s.appEvents[0]!.event).toBe('reset');
      expect(s.appEvents[0]!.id).toBe(ids[4]);
      expect(JSON.parse(s.appEvents[0]!.data)).toMatchObject({ reason: 'history-gap' });
    }
    expect(fresh.sink.appEvents.map((e) => e.data)).toEqual(['3', '4']);
    expect(hub.info().counters.resets).toBe(2);
  });

  it('forgets events older than maxAgeMs', async () => {
    let now = 1_000_000;
    const hub = makeHub({ now: () => now, history: { maxAgeMs: 1000, now: () => now } });
    const c = open(hub, 'g', 'a');
    await hub.broadcast(newEvent('old'));
    await tick();
    const id = c.sink.appEvents[0]!.id!;
    await hub.broadcast(newEvent('newer'));
    now += 1500;
    const late = open(hub, 'g', 'a', id);
    await tick();
    expect(late.sink.appEvents[0]!.event).toBe('reset');
  });

  it('with history disabled, a resume that missed anything gets reset', async () => {
    const hub = makeHub({ history: false });
    const c = open(hub, 'g', 'a');
    await hub.broadcast(newEvent(1));
    await tick();
    const seen = c.sink.appEvents[0]!.id!;
    // Nothing was sent since: nothing was missed.
    const upToDate = open(hub, 'g', 'a', seen);
    await hub.broadcast(newEvent(2));
    const behind = open(hub, 'g', 'a', seen);
    await tick();
    expect(upToDate.sink.appEvents.map((e) => e.data)).toEqual(['2']);
    expect(behind.sink.appEvents.map((e) => e.event)).toEqual(['reset']);
  });

  it('a reset from an empty history carries an id that resumes cleanly', async () => {
    const hub = makeHub();
    const first = open(hub, 'g', 'a', 'from-an-earlier-process');
    await tick();
    const reset = first.sink.appEvents[0]!;
    expect(reset.event).toBe('reset');
    expect(reset.id).toMatch(/-0$/);
    await hub.broadcast(newEvent('after'));
    const again = open(hub, 'g', 'a', reset.id);
    await tick();
    expect(again.sink.appEvents.map((e) => [e.event, e.data])).toEqual([[undefined, 'after']]);
  });

  it('resumes from an id whose event aged out when nothing after it was forgotten', async () => {
    let now = 0;
    const hub = makeHub({ history: { maxAgeMs: 1000, now: () => now } });
    const c = open(hub, 'g', 'a');
    await hub.broadcast(newEvent('old'));
    await tick();
    now = 5000;
    await hub.broadcast(newEvent('new'));
    const again = open(hub, 'g', 'a', c.sink.appEvents[0]!.id);
    await tick();
    expect(again.sink.appEvents.map((e) => e.data)).toEqual(['new']);
  });

  it('has no gap and no duplicate at the seam with an asynchronous store while events keep flowing', async () => {
    // A store that answers after a delay, like Redis.
    const memory = new (await import('./history.js')).MemoryHistory();
    let pendingSince: (() => void) | undefined;
    const store: HistoryStore = {
      append: (record, appId) => Promise.resolve(memory.append(record, appId)),
      since: (lastEventId, matches) =>
        new Promise<ReplayResult>((resolve) => {
          // Answer with the state as of the call, later: live events keep arriving meanwhile.
          const result = memory.since(lastEventId, matches);
          pendingSince = () => resolve(result);
        }),
    };
    const hub = makeHub({ history: store });
    const watcher = open(hub, 'g', 'w');
    for (let i = 0; i < 5; i++) await hub.broadcast(newEvent(i));
    await tick();
    const resumeFrom = watcher.sink.appEvents[1]!.id!;
    const resumed = open(hub, 'g', 'r', resumeFrom);
    // Sent while the replay is being fetched: some are in the replay result's snapshot? No: after it.
    for (let i = 5; i < 10; i++) await hub.broadcast(newEvent(i));
    pendingSince!();
    await tick();
    await tick();
    expect(resumed.sink.appEvents.map((e) => e.data)).toEqual([
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
    ]);
  });

  it('drops live events at the seam that the replay already delivered', async () => {
    const memory = new (await import('./history.js')).MemoryHistory();
    let release: (() => void) | undefined;
    const store: HistoryStore = {
      append: (record, appId) => memory.append(record, appId),
      // Reads the history late: it then includes events that also arrived live.
      since: (lastEventId, matches) =>
        new Promise<ReplayResult>((resolve) => {
          release = () => resolve(memory.since(lastEventId, matches));
        }),
    };
    const hub = makeHub({ history: store });
    const w = open(hub, 'g', 'w');
    await hub.broadcast(newEvent('a'));
    await tick();
    const r = open(hub, 'g', 'r', w.sink.appEvents[0]!.id);
    await hub.broadcast(newEvent('b'));
    await hub.broadcast(newEvent('c'));
    release!();
    await tick();
    await hub.broadcast(newEvent('d'));
    await tick();
    expect(r.sink.appEvents.map((e) => e.data)).toEqual(['b', 'c', 'd']);
  });

  it('keeps send order with an asynchronous store and falls back to local delivery when it fails', async () => {
    const errors: string[] = [];
    let fail = false;
    let n = 0;
    const store: HistoryStore = {
      // Ids are assigned in call order (as Redis does for pipelined commands); answers come back
      // after random delays.
      append: () => {
        const id = `s-${++n}`;
        return new Promise((resolve, reject) =>
          setTimeout(
            () => (fail ? reject(new Error('store down')) : resolve(id)),
            Math.random() * 5,
          ),
        );
      },
      since: () => ({ found: false, newestId: undefined }),
    };
    const hub = makeHub({ history: store, onError: (_e, context) => errors.push(context) });
    const { sink } = open(hub, 'g', 'a');
    const sends = Array.from({ length: 10 }, (_, i) => hub.broadcast(newEvent(i)));
    expect(await Promise.all(sends)).toEqual(Array(10).fill(1));
    fail = true;
    expect(await hub.broadcast(newEvent('while down'))).toBe(1);
    await tick();
    expect(sink.appEvents.map((e) => e.data)).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      'while down',
    ]);
    expect(sink.appEvents.slice(0, 10).map((e) => e.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `s-${i + 1}`),
    );
    expect(sink.appEvents[10]!.id).toMatch(/local/);
    expect(errors).toEqual(['history.append']);
  });
});
