/// <reference types="node" />
// Shared mode in Node: Node's real BroadcastChannel (it delivers between instances of one
// process, as between tabs), an in-memory Web Locks double (Node 20 has none) and the
// hand-driven FakeEventSource. The same code runs in Chromium in shared.browser.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ClientOptions, type ClientStatus, createClient, type SSEClient } from './client.js';
import { FakeEventSource } from './fake-event-source.test-util.js';
import { FakeLocks } from './fake-locks.test-util.js';
import { streamKey } from './url.js';

type Events = { tick: { seq: number }; task_progress: { percent: number } };

const URL = 'http://app.test/api/v1/sse/stream/room/u1';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets queued channel messages and lock grants run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

interface Tab {
  client: SSEClient<Events>;
  ticks: { seq: number; id: string }[];
  statuses: ClientStatus[];
  connected: string[];
}

const tabs: Tab[] = [];

function open(options: ClientOptions = {}, url = URL): Tab {
  const client = createClient<Events>(url, {
    EventSource: FakeEventSource,
    shared: true,
    ...options,
  });
  const tab: Tab = { client, ticks: [], statuses: [], connected: [] };
  client.on('tick', (tick, meta) => tab.ticks.push({ seq: tick.seq, id: meta.id }));
  client.on('connected', (data) => tab.connected.push(data.connectionId));
  client.onStatus((status) => tab.statuses.push(status));
  tabs.push(tab);
  return tab;
}

const connected = (connectionId: string) =>
  JSON.stringify({ id: 'u1', group: 'room', connectionId });

beforeEach(() => {
  FakeEventSource.reset();
  vi.stubGlobal('navigator', { locks: new FakeLocks() });
});

afterEach(() => {
  for (const tab of tabs.splice(0)) tab.client.close();
  vi.unstubAllGlobals();
});

describe('shared mode', () => {
  it('one connection for every client of the stream; the others get its events and status', async () => {
    const a = open();
    await until(() => a.client.role === 'leader', 'a leader');
    const b = open();
    // Another token and a resume point in the URL: still the same stream.
    const c = open({}, `${URL}?token=other&lastEventId=0`);
    b.client.on('task_progress', () => {});
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(b.client.role).toBe('follower');
    expect(c.client.role).toBe('follower');
    const source = FakeEventSource.last;
    // The leader observes the names the followers listen for, too.
    expect(source.listenerCounts.get('task_progress')).toBe(1);

    source.open();
    source.emit('connected', connected('c1'));
    source.emit('tick', '{"seq":1}', 'e1');
    source.emit('tick', '{"seq":2}', 'e2');
    await until(() => b.ticks.length === 2 && c.ticks.length === 2, 'the followers');
    for (const tab of [a, b, c]) {
      expect(tab.ticks).toEqual([
        { seq: 1, id: 'e1' },
        { seq: 2, id: 'e2' },
      ]);
      expect(tab.statuses).toEqual(['open']);
      expect(tab.connected).toEqual(['c1']);
      expect(tab.client.connection?.connectionId).toBe('c1');
      expect(tab.client.lastEventId).toBe('e2');
      expect(tab.client.status).toBe('open');
    }

    // `reset` reaches every client, and its id (here none) is where each resumes from.
    const resets: unknown[] = [];
    for (const tab of [a, b, c]) tab.client.onReset((data) => resets.push(data));
    source.emit('reset', '{"lastEventId":"e0","reason":"history-gap"}', '');
    await until(() => resets.length === 3, 'three resets');
    for (const tab of [a, b, c]) expect(tab.client.lastEventId).toBe('');
  });

  it('a client that joins later gets the connection (connected, then status open) first', async () => {
    const a = open();
    await until(() => a.client.role === 'leader', 'a leader');
    FakeEventSource.last.open();
    FakeEventSource.last.emit('connected', connected('c1'));
    const b = open();
    const order: string[] = [];
    b.client.onStatus((status) => order.push(`status ${status}`));
    b.client.on('connected', () => order.push('connected'));
    await until(() => b.client.status === 'open', 'the follower open');
    FakeEventSource.last.emit('tick', '{"seq":1}', 'e1');
    await until(() => b.ticks.length === 1, 'a tick');
    expect(order).toEqual(['status open', 'connected']);
    expect(b.connected).toEqual(['c1']);
  });

  it('when the leader goes, the next client takes over from its last event id, no event twice', async () => {
    const a = open();
    await until(() => a.client.role === 'leader', 'a leader');
    const b = open();
    const c = open();
    await settle();
    const first = FakeEventSource.last;
    first.open();
    first.emit('connected', connected('c1'));
    for (const seq of [1, 2, 3]) first.emit('tick', `{"seq":${seq}}`, `e${seq}`);
    await until(() => b.ticks.length === 3 && c.ticks.length === 3, 'three ticks');

    a.client.close();
    await until(() => FakeEventSource.instances.length === 2, 'a new leader connecting');
    const [leader, follower] = b.client.role === 'leader' ? [b, c] : [c, b];
    expect(follower.client.role).toBe('follower');
    const second = FakeEventSource.last;
    expect(second.url).toBe(`${URL}?lastEventId=e3`);
    await until(() => follower.client.status === 'reconnecting', 'the follower reconnecting');

    // The old leader's last message arrives late, after the new one has connected...
    const late = new BroadcastChannel(`ssehub:${streamKey(URL)}`);
    late.postMessage({
      kind: 'event',
      event: { type: 'tick', data: '{"seq":4}', id: 'e4', fresh: true },
    });
    late.close();
    await settle();
    // ...and the server replays it too, from e3.
    second.open();
    second.emit('connected', connected('c2'));
    second.emit('tick', '{"seq":4}', 'e4');
    second.emit('tick', '{"seq":5}', 'e5');
    await until(() => follower.ticks.length >= 5 && leader.ticks.length >= 5, 'the replay');
    await settle();
    for (const tab of [leader, follower]) {
      expect(tab.ticks.map((t) => t.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(tab.statuses).toEqual(['open', 'reconnecting', 'open']);
      expect(tab.connected).toEqual(['c1', 'c2']);
      expect(tab.client.lastEventId).toBe('e5');
    }
    expect(a.ticks).toHaveLength(3);
    expect(a.client.status).toBe('closed');
  });

  it('only the leader asks for tokens', async () => {
    const calls: string[] = [];
    const tokenOf = (name: string) => () => {
      calls.push(name);
      return `t${name}`;
    };
    const a = open({ getToken: tokenOf('a') });
    await until(() => a.client.role === 'leader', 'a leader');
    const b = open({ getToken: tokenOf('b') });
    await settle();
    expect(calls).toEqual(['a']);
    expect(FakeEventSource.last.url).toBe(`${URL}?token=ta`);
    a.client.close();
    await until(() => b.client.role === 'leader', 'b leads');
    expect(calls).toEqual(['a', 'b']);
    expect(FakeEventSource.last.url).toBe(`${URL}?token=tb`);
  });

  it('when the leader gives up, every client closes', async () => {
    const a = open({ reconnect: false });
    await until(() => a.client.role === 'leader', 'a leader');
    const b = open();
    await settle();
    FakeEventSource.last.fail(FakeEventSource.CLOSED);
    await until(() => b.client.status === 'closed', 'the follower closed');
    expect(a.client.status).toBe('closed');
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it('a transport that refuses the URL closes every client, and the leader reports it', async () => {
    const errors: unknown[] = [];
    const Refusing = class {
      constructor() {
        throw new SyntaxError('bad URL');
      }
    } as unknown as ClientOptions['EventSource'];
    const onListenerError = (error: unknown) => errors.push(error);
    const a = open({ EventSource: Refusing, onListenerError });
    const b = open({ EventSource: Refusing, onListenerError });
    await until(() => a.client.status === 'closed' && b.client.status === 'closed', 'both closed');
    expect(errors).toEqual([new SyntaxError('bad URL')]);
  });

  it('different streams do not share', async () => {
    const a = open();
    const b = open({}, 'http://app.test/api/v1/sse/stream/room/u2');
    await until(() => a.client.role === 'leader' && b.client.role === 'leader', 'two leaders');
    expect(FakeEventSource.instances).toHaveLength(2);
  });

  it('a lock the browser refuses (an opaque origin) makes the client connect on its own', async () => {
    vi.stubGlobal('navigator', {
      locks: { request: () => Promise.reject(new DOMException('opaque origin', 'SecurityError')) },
    });
    const a = open();
    const b = open();
    await until(() => FakeEventSource.instances.length === 2, 'two connections');
    expect([a.client.role, b.client.role]).toEqual(['single', 'single']);
  });

  it('without Web Locks each client connects on its own', async () => {
    vi.stubGlobal('navigator', {});
    const a = open();
    const b = open();
    expect(a.client.role).toBe('single');
    expect(b.client.role).toBe('single');
    expect(FakeEventSource.instances).toHaveLength(2);
  });
});
