// @vitest-environment happy-dom
import { act, createElement, StrictMode, useState } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeEventSource } from './fake-event-source.test-util.js';
import { FakeLocks } from './fake-locks.test-util.js';
import { type UseSSEOptions, type UseSSEResult, useSSE } from './react.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

type Events = { notification: { title: string }; task_progress: { percent: number } };

let root: Root;
let latest: UseSSEResult<Events>;
let renders = 0;

function Probe(props: { target: Parameters<typeof useSSE>[0]; options: UseSSEOptions<Events> }) {
  renders++;
  latest = useSSE<Events>(props.target, { EventSource: FakeEventSource, ...props.options });
  return createElement('span', null, latest.status);
}

function render(target: Parameters<typeof useSSE>[0], options: UseSSEOptions<Events> = {}) {
  act(() => root.render(createElement(Probe, { target, options })));
}

beforeEach(() => {
  FakeEventSource.reset();
  renders = 0;
  root = createRoot(document.createElement('div'));
});
afterEach(() => act(() => root.unmount()));

describe('useSSE (React)', () => {
  it('connects, tracks status, and dispatches to the latest handlers', () => {
    const first = vi.fn();
    render('/s', { events: { notification: first } });
    expect(FakeEventSource.instances).toHaveLength(1);
    const source = FakeEventSource.last;
    expect(latest.status).toBe('connecting');
    act(() => source.open());
    expect(latest.status).toBe('open');

    // new handler functions each render: no reconnect, the newest one is called
    const second = vi.fn();
    render('/s', { events: { notification: second } });
    expect(FakeEventSource.instances).toHaveLength(1);
    act(() => source.emit('notification', '{"title":"hi"}', '3'));
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledWith(
      { title: 'hi' },
      { id: '3', type: 'notification', raw: '{"title":"hi"}' },
    );
    expect(latest.lastEventId).toBe('3');
    expect(latest.lastEvent).toEqual({ type: 'notification', data: { title: 'hi' }, id: '3' });
    expect(latest.client?.status).toBe('open');
  });

  it('passes getToken through, calling the latest one on a refresh', async () => {
    render({ group: 'g', id: 'a' }, { getToken: () => 'first' });
    const source = FakeEventSource.last;
    expect(source.url).toBe('/api/v1/sse/stream/g/a?token=first');
    act(() => source.open());
    render({ group: 'g', id: 'a' }, { getToken: () => 'second' });
    expect(FakeEventSource.instances).toHaveLength(1);
    vi.spyOn(Math, 'random').mockReturnValue(1); // the shortest backoff
    act(() => source.fail(FakeEventSource.CLOSED));
    await act(() => new Promise((resolve) => setTimeout(resolve, 600)));
    expect(FakeEventSource.last.url).toBe('/api/v1/sse/stream/g/a?token=second');
    vi.restoreAllMocks();
  });

  it('subscribes names added later and drops removed ones', () => {
    const onProgress = vi.fn();
    render('/s', { events: { notification: () => {} } });
    const source = FakeEventSource.last;
    render('/s', { events: { task_progress: onProgress } });
    expect(source.listenerCounts.get('notification')).toBe(0);
    act(() => source.emit('task_progress', '{"percent":5}'));
    expect(onProgress).toHaveBeenCalledWith({ percent: 5 }, expect.anything());
  });

  it('reconnects when the URL changes and closes on unmount', () => {
    render({ group: 'notifications', id: 'u1', token: 't' });
    const first = FakeEventSource.last;
    expect(first.url).toBe('/api/v1/sse/stream/notifications/u1?token=t');
    // an equal target object in a new render does not reconnect
    render({ group: 'notifications', id: 'u1', token: 't' });
    expect(FakeEventSource.instances).toHaveLength(1);

    render({ group: 'notifications', id: 'u2', base: '/sse' });
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    const second = FakeEventSource.last;
    expect(second.url).toBe('/sse/stream/notifications/u2');
    expect(latest.status).toBe('connecting');

    act(() => root.unmount());
    expect(second.readyState).toBe(FakeEventSource.CLOSED);
    root = createRoot(document.createElement('div')); // for afterEach
  });

  it('stays closed with a null target until one is given', () => {
    render(null);
    expect(FakeEventSource.instances).toHaveLength(0);
    expect(latest.status).toBe('closed');
    render('/s');
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(latest.status).toBe('connecting');
  });

  it('close() is stable and closes the connection', () => {
    render('/s');
    const { close } = latest;
    render('/s');
    expect(latest.close).toBe(close);
    act(() => latest.close());
    expect(latest.status).toBe('closed');
    expect(FakeEventSource.last.readyState).toBe(FakeEventSource.CLOSED);
  });

  it('starts from the lastEventId in the URL', () => {
    render('/s?lastEventId=from-url');
    expect(latest.lastEventId).toBe('from-url');
  });

  it('updates lastEventId on reset', () => {
    render('/s', { lastEventId: 'old' });
    expect(latest.lastEventId).toBe('old');
    act(() => FakeEventSource.last.emit('reset', '{}', 'r1'));
    expect(latest.lastEventId).toBe('r1');
  });

  it('does not re-render without events', () => {
    render('/s');
    const before = renders;
    act(() => FakeEventSource.last.emit('message', 'ignored'));
    expect(renders).toBe(before);
  });

  it('leaves one open connection under StrictMode', () => {
    function Strict() {
      const [n] = useState(0);
      latest = useSSE<Events>(`/s${n}`, { EventSource: FakeEventSource });
      return null;
    }
    act(() => root.render(createElement(StrictMode, null, createElement(Strict))));
    const open = FakeEventSource.instances.filter((s) => s.readyState !== FakeEventSource.CLOSED);
    expect(open).toHaveLength(1);
    act(() => open[0]!.open());
    expect(latest.status).toBe('open');
  });

  it('shared: true makes the components of a stream share one connection', async () => {
    vi.stubGlobal('navigator', { locks: new FakeLocks() });
    try {
      const results: UseSSEResult<Events>[] = [];
      const seen: string[][] = [[], []];
      const options = (i: number): UseSSEOptions<Events> => ({
        EventSource: FakeEventSource,
        shared: true,
        events: { notification: (n) => seen[i]!.push(n.title) },
      });
      function Two() {
        results[0] = useSSE<Events>({ group: 'g', id: 'a' }, options(0));
        results[1] = useSSE<Events>({ group: 'g', id: 'a' }, options(1));
        return null;
      }
      act(() => root.render(createElement(Two)));
      const until = async (check: () => boolean) => {
        while (!check()) await act(() => new Promise((resolve) => setTimeout(resolve, 5)));
      };
      await until(() => FakeEventSource.instances.length === 1);
      await act(() => new Promise((resolve) => setTimeout(resolve, 20)));
      expect(FakeEventSource.instances).toHaveLength(1);
      expect(results.map((r) => r.client?.role).sort()).toEqual(['follower', 'leader']);
      const source = FakeEventSource.last;
      act(() => source.open());
      act(() => source.emit('notification', '{"title":"both"}', '1'));
      await until(() => results.every((r) => r.status === 'open' && r.lastEventId === '1'));
      expect(seen).toEqual([['both'], ['both']]);
    } finally {
      act(() => root.unmount());
      root = createRoot(document.createElement('div'));
      vi.unstubAllGlobals();
    }
  });
});
