import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { createClient, type EventMeta, type EventSourceConstructor, SSEClient } from './client.js';
import { FakeEventSource } from './fake-event-source.test-util.js';

type Events = {
  notification: { title: string; content: string };
  task_progress: { taskId: string; percent: number };
};

const URL = '/api/v1/sse/stream/notifications/user123';

function connect(options: ConstructorParameters<typeof SSEClient>[1] = {}) {
  const client = createClient<Events>(URL, { EventSource: FakeEventSource, ...options });
  return { client, source: FakeEventSource.last };
}

beforeEach(() => FakeEventSource.reset());
afterEach(() => vi.useRealTimers());

describe('construction', () => {
  it('connects at once to the URL, with withCredentials when asked', () => {
    const { client, source } = connect({ withCredentials: true });
    expect(source.url).toBe(URL);
    expect(source.withCredentials).toBe(true);
    expect(client.status).toBe('connecting');
    expect(client.lastEventId).toBe('');
    expect(client.url).toBe(URL);
  });

  it('uses globalThis.EventSource by default', () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    try {
      new SSEClient(URL);
      expect(FakeEventSource.instances).toHaveLength(1);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('throws a helpful TypeError when there is no EventSource', () => {
    expect(() => new SSEClient(URL)).toThrow(/options\.EventSource/);
  });

  it('resumes from options.lastEventId through the query string', () => {
    const { client, source } = connect({ lastEventId: 'e 41' });
    expect(source.url).toBe(`${URL}?lastEventId=e+41`);
    expect(client.lastEventId).toBe('e 41');
  });

  it('takes the initial lastEventId from the URL, e.g. one built by streamUrl', () => {
    const client = createClient(`${URL}?token=t%20x&lastEventId=12`, {
      EventSource: FakeEventSource,
    });
    expect(FakeEventSource.last.url).toBe(`${URL}?token=t%20x&lastEventId=12`);
    expect(client.lastEventId).toBe('12');
  });
});

describe('parsing and dispatch', () => {
  it('parses JSON data and passes meta', () => {
    const { client, source } = connect();
    const seen: [unknown, EventMeta][] = [];
    client.on('notification', (data, meta) => seen.push([data, meta]));
    const raw = '{"title":"Hi","content":"there"}';
    source.emit('notification', raw, '7');
    expect(seen).toEqual([
      [
        { title: 'Hi', content: 'there' },
        { id: '7', type: 'notification', raw },
      ],
    ]);
    expect(client.lastEventId).toBe('7');
  });

  it('falls back to the raw string when data is not JSON', () => {
    const { client, source } = connect();
    const seen: unknown[] = [];
    client.on('message', (data) => seen.push(data));
    source.emit('message', 'Hello World');
    source.emit('message', '');
    source.emit('message', '{"broken"');
    source.emit('message', '42');
    expect(seen).toEqual(['Hello World', '', '{"broken"', 42]);
  });

  it('uses a custom parse, and the raw string when it throws', () => {
    const parse = vi.fn((raw: string, type: string) => {
      if (raw === 'bad') throw new Error('nope');
      return `${type}:${raw}`;
    });
    const { client, source } = connect({ parse });
    const seen: unknown[] = [];
    client.on('message', (data) => seen.push(data));
    source.emit('message', 'ok');
    source.emit('message', 'bad');
    expect(seen).toEqual(['message:ok', 'bad']);
  });

  it('dispatches by name only to that name, and parses once per event', () => {
    const parse = vi.fn((raw: string) => JSON.parse(raw));
    const { client, source } = connect({ parse });
    const notifications = vi.fn();
    const progress = vi.fn();
    client.on('notification', notifications);
    client.on('notification', notifications);
    client.on('task_progress', progress);
    source.emit('task_progress', '{"taskId":"t","percent":50}');
    expect(progress).toHaveBeenCalledOnce();
    expect(notifications).not.toHaveBeenCalled();
    expect(parse).toHaveBeenCalledOnce();
  });

  it('accepts the DOM EventSource constructor', () => {
    expectTypeOf<typeof EventSource>().toExtend<EventSourceConstructor>();
  });

  it('types listeners from the event map', () => {
    const { client } = connect();
    client.on('notification', (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<{ title: string; content: string }>();
      expectTypeOf(meta).toEqualTypeOf<EventMeta>();
    });
    client.on('connected', (data) => {
      expectTypeOf(data.connectionId).toEqualTypeOf<string>();
    });
    client.on('message', (data) => expectTypeOf(data).toBeUnknown());
    // @ts-expect-error: not an event of the map
    client.on('nope', () => {});
    // @ts-expect-error: wrong payload type
    client.on('task_progress', (data: { title: string }) => data);
    // An untyped client takes any name.
    createClient('/x', { EventSource: FakeEventSource }).on('anything', (data) => {
      expectTypeOf(data).toBeUnknown();
    });
  });

  it("types unnamed events (the server's events without a name) by the map's `message` entry", () => {
    type WithMessage = Events & { message: { text: string } };
    const client = createClient<WithMessage>(URL, { EventSource: FakeEventSource });
    const received: { text: string }[] = [];
    client.on('message', (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<{ text: string }>();
      received.push(data);
      expect(meta.type).toBe('message');
    });
    // @ts-expect-error: the map says what an unnamed event carries
    client.on('message', (data: { title: string }) => data);
    FakeEventSource.last.emit('message', '{"text":"hi"}');
    expect(received).toEqual([{ text: 'hi' }]);
  });

  it('keeps dispatching when a listener throws, and reports the error', () => {
    const onListenerError = vi.fn();
    const { client, source } = connect({ onListenerError });
    const after = vi.fn();
    const boom = new Error('boom');
    client.on('notification', () => {
      throw boom;
    });
    client.on('notification', after);
    source.emit('notification', '{}', '1');
    expect(after).toHaveBeenCalledOnce();
    expect(onListenerError).toHaveBeenCalledWith(boom, {
      id: '1',
      type: 'notification',
      raw: '{}',
    });
  });

  it('reports listener errors through globalThis.reportError by default', () => {
    const reportError = vi.fn();
    vi.stubGlobal('reportError', reportError);
    try {
      const { client, source } = connect();
      client.on('message', () => {
        throw new Error('boom');
      });
      expect(() => source.emit('message', 'x')).not.toThrow();
      expect(reportError).toHaveBeenCalledOnce();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('records the connected payload', () => {
    const { client, source } = connect();
    expect(client.connection).toBeUndefined();
    const connected = { id: 'user123', group: 'notifications', connectionId: 'c1', extra: 1 };
    source.emit('connected', JSON.stringify(connected));
    expect(client.connection).toEqual(connected);
  });
});

describe('subscriptions', () => {
  it('on returns an unsubscribe; off removes; both are idempotent', () => {
    const { client, source } = connect();
    const a = vi.fn();
    const b = vi.fn();
    const offA = client.on('notification', a);
    client.on('notification', b);
    offA();
    offA();
    client.off('notification', b);
    client.off('notification', b);
    source.emit('notification', '{}');
    expect(a).not.toHaveBeenCalled();
    expect(b).not.toHaveBeenCalled();
  });

  it('detaches the native listener when a name has no listeners left', () => {
    const { client, source } = connect();
    const off = client.on('notification', () => {});
    expect(source.listenerCounts.get('notification')).toBe(1);
    off();
    expect(source.listenerCounts.get('notification')).toBe(0);
    // connected and reset stay observed for the client's own bookkeeping
    expect(source.listenerCounts.get('connected')).toBe(1);
    expect(source.listenerCounts.get('reset')).toBe(1);
  });

  it('once runs a single time, and can be removed before it runs', () => {
    const { client, source } = connect();
    const once = vi.fn();
    const never = vi.fn();
    client.once('notification', once);
    client.once('notification', never)();
    source.emit('notification', '{"title":"a"}');
    source.emit('notification', '{"title":"b"}');
    expect(once).toHaveBeenCalledOnce();
    expect(once).toHaveBeenCalledWith({ title: 'a' }, expect.anything());
    expect(never).not.toHaveBeenCalled();
  });

  it('off removes a once listener by its original function', () => {
    const { client, source } = connect();
    const once = vi.fn();
    client.once('notification', once);
    client.off('notification', once);
    source.emit('notification', '{}');
    expect(once).not.toHaveBeenCalled();
  });

  it('a listener removed by an earlier listener of the same event does not run', () => {
    const { client, source } = connect();
    const second = vi.fn();
    client.on('notification', () => client.off('notification', second));
    client.on('notification', second);
    source.emit('notification', '{}');
    expect(second).not.toHaveBeenCalled();
  });
});

describe('status', () => {
  it('goes connecting -> open -> reconnecting -> open -> closed', () => {
    const { client, source } = connect();
    const statuses: string[] = [];
    client.onStatus((status) => statuses.push(status));
    source.open();
    source.fail(FakeEventSource.CONNECTING); // the browser retries by itself
    source.fail(FakeEventSource.CONNECTING); // no duplicate notifications
    source.open();
    client.close();
    client.close();
    expect(statuses).toEqual(['open', 'reconnecting', 'open', 'closed']);
    expect(client.status).toBe('closed');
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it('onStatus returns an unsubscribe', () => {
    const { client, source } = connect();
    const listener = vi.fn();
    client.onStatus(listener)();
    source.open();
    expect(listener).not.toHaveBeenCalled();
  });

  it('ignores events from the EventSource after close', () => {
    const { client, source } = connect();
    const listener = vi.fn();
    client.on('notification', listener);
    client.close();
    source.dispatchEvent(new MessageEvent('notification', { data: '{}' }));
    source.fail(FakeEventSource.CLOSED);
    expect(listener).not.toHaveBeenCalled();
    expect(client.status).toBe('closed');
  });
});

describe('reconnect', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0); // no jitter: nominal delays
  });
  afterEach(() => vi.restoreAllMocks());

  it('reconnects when the EventSource gives up, passing lastEventId in the query', () => {
    const { client, source } = connect();
    client.on('notification', () => {});
    source.open();
    source.emit('notification', '{}', 'ev-9');
    source.fail(FakeEventSource.CLOSED);
    expect(client.status).toBe('reconnecting');
    expect(source.listenerCounts.get('notification')).toBe(0); // detached from the old one
    vi.advanceTimersByTime(999);
    expect(FakeEventSource.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(2);
    const next = FakeEventSource.last;
    expect(next.url).toBe(`${URL}?lastEventId=ev-9`);

    // listeners carry over to the new EventSource
    const listener = vi.fn();
    client.on('task_progress', listener);
    next.open();
    expect(client.status).toBe('open');
    next.emit('connected', '{"id":"user123","group":"notifications","connectionId":"c2"}');
    expect(client.lastEventId).toBe('ev-9'); // connected carries no id
    next.emit('task_progress', '{"taskId":"t","percent":1}', 'ev-10');
    expect(listener).toHaveBeenCalledOnce();
    expect(client.lastEventId).toBe('ev-10');
  });

  it('replaces an existing lastEventId query parameter and keeps the others', () => {
    const client = createClient(`${URL}?token=abc&lastEventId=old`, {
      EventSource: FakeEventSource,
    });
    client.on('message', () => {});
    FakeEventSource.last.emit('message', 'x', 'new');
    FakeEventSource.last.fail(FakeEventSource.CLOSED);
    vi.runOnlyPendingTimers();
    expect(FakeEventSource.last.url).toBe(`${URL}?token=abc&lastEventId=new`);
  });

  it('backs off exponentially up to maxDelay, and resets after an open', () => {
    connect({ reconnect: { initialDelay: 100, maxDelay: 350, factor: 2 } });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = FakeEventSource.instances.length;
      FakeEventSource.last.fail(FakeEventSource.CLOSED);
      let waited = 0;
      while (FakeEventSource.instances.length === before) {
        vi.advanceTimersByTime(1);
        waited++;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([100, 200, 350, 350]);
    FakeEventSource.last.open();
    FakeEventSource.last.fail(FakeEventSource.CLOSED);
    vi.advanceTimersByTime(100);
    expect(FakeEventSource.instances).toHaveLength(6);
  });

  it('applies jitter as a random share of the delay', () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    connect({ reconnect: { initialDelay: 1000, jitter: 0.5 } });
    FakeEventSource.last.fail(FakeEventSource.CLOSED);
    vi.advanceTimersByTime(499);
    expect(FakeEventSource.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(2);
  });

  it('gives up after maxAttempts', () => {
    const { client } = connect({ reconnect: { initialDelay: 10, maxAttempts: 2 } });
    for (let i = 0; i < 2; i++) {
      FakeEventSource.last.fail(FakeEventSource.CLOSED);
      vi.runOnlyPendingTimers();
    }
    expect(client.status).toBe('reconnecting');
    FakeEventSource.last.fail(FakeEventSource.CLOSED);
    expect(client.status).toBe('closed');
    vi.runAllTimers();
    expect(FakeEventSource.instances).toHaveLength(3);
  });

  it('becomes closed when reconnect is off', () => {
    const { client, source } = connect({ reconnect: false });
    source.fail(FakeEventSource.CLOSED);
    expect(client.status).toBe('closed');
    vi.runAllTimers();
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it('close() cancels a scheduled reconnect', () => {
    const { client, source } = connect();
    source.fail(FakeEventSource.CLOSED);
    client.close();
    vi.runAllTimers();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(client.status).toBe('closed');
  });
});

describe('reset', () => {
  it('calls onReset and takes the reset event id as the new resume point', () => {
    vi.useFakeTimers();
    const { client, source } = connect({ lastEventId: 'too-old' });
    const onReset = vi.fn();
    client.onReset(onReset);
    source.emit('reset', '{"lastEventId":"too-old","reason":"history-gap"}', 'ev-100');
    expect(onReset).toHaveBeenCalledWith(
      { lastEventId: 'too-old', reason: 'history-gap' },
      expect.objectContaining({ id: 'ev-100', type: 'reset' }),
    );
    expect(client.lastEventId).toBe('ev-100');
  });

  it('an empty reset id clears the resume point, so the next reconnect asks for no replay', () => {
    vi.useFakeTimers();
    const { client, source } = connect({ lastEventId: 'too-old' });
    source.emit('reset', '{"lastEventId":"too-old","reason":"history-gap"}', '');
    expect(client.lastEventId).toBe('');
    source.fail(FakeEventSource.CLOSED);
    vi.runOnlyPendingTimers();
    expect(FakeEventSource.last.url).toBe(URL);
  });
});
