// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp, defineComponent, effectScope, h, nextTick, ref } from 'vue';
import { FakeEventSource } from './fake-event-source.test-util.js';
import { FakeLocks } from './fake-locks.test-util.js';
import type { SSETarget } from './vue.js';
import { useSSE } from './vue.js';

type Events = { notification: { id: string; title: string } };

beforeEach(() => FakeEventSource.reset());

describe('useSSE (Vue)', () => {
  it('connects, exposes refs, dispatches, and closes when the scope is disposed', () => {
    const scope = effectScope();
    const notifications: Events['notification'][] = [];
    const sse = scope.run(() =>
      useSSE<Events>('/s', {
        EventSource: FakeEventSource,
        events: { notification: (n) => notifications.unshift(n) },
      }),
    )!;
    const source = FakeEventSource.last;
    expect(sse.status.value).toBe('connecting');
    source.open();
    expect(sse.status.value).toBe('open');
    source.emit('notification', '{"id":"n1","title":"hi"}', '8');
    expect(notifications).toEqual([{ id: 'n1', title: 'hi' }]);
    expect(sse.lastEventId.value).toBe('8');
    expect(sse.lastEvent.value).toEqual({ type: 'notification', data: notifications[0], id: '8' });
    expect(sse.client.value?.status).toBe('open');

    scope.stop();
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
    expect(sse.status.value).toBe('closed');
  });

  it('passes getToken through to the client', async () => {
    const scope = effectScope();
    scope.run(() =>
      useSSE<Events>(
        { group: 'g', id: 'a' },
        { EventSource: FakeEventSource, getToken: async () => 'tk' },
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(FakeEventSource.last.url).toBe('/api/v1/sse/stream/g/a?token=tk');
    scope.stop();
  });

  it('reconnects when a reactive target changes, and disconnects on null', async () => {
    const scope = effectScope();
    const userId = ref<string | null>('u1');
    const sse = scope.run(() =>
      useSSE<Events>(
        (): SSETarget => (userId.value ? { group: 'notifications', id: userId.value } : null),
        { EventSource: FakeEventSource },
      ),
    )!;
    const first = FakeEventSource.last;
    expect(first.url).toBe('/api/v1/sse/stream/notifications/u1');

    userId.value = 'u2';
    await nextTick();
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    expect(FakeEventSource.last.url).toBe('/api/v1/sse/stream/notifications/u2');
    expect(sse.status.value).toBe('connecting');

    userId.value = null;
    await nextTick();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(FakeEventSource.last.readyState).toBe(FakeEventSource.CLOSED);
    expect(sse.status.value).toBe('closed');
    expect(sse.client.value).toBeUndefined();
    scope.stop();
  });

  it('close() closes the connection; reset updates lastEventId', () => {
    const scope = effectScope();
    const onReset = vi.fn();
    const sse = scope.run(() =>
      useSSE<Events>(ref('/s'), {
        EventSource: FakeEventSource,
        lastEventId: 'old',
        events: { reset: onReset },
      }),
    )!;
    expect(FakeEventSource.last.url).toBe('/s?lastEventId=old');
    FakeEventSource.last.emit('reset', '{"reason":"history-gap"}', 'r2');
    expect(onReset).toHaveBeenCalledOnce();
    expect(sse.lastEventId.value).toBe('r2');
    sse.close();
    expect(sse.status.value).toBe('closed');
    expect(FakeEventSource.last.readyState).toBe(FakeEventSource.CLOSED);
    scope.stop();
  });

  it('in a component, connects on mount and closes on unmount', () => {
    let sse: ReturnType<typeof useSSE<Events>> | undefined;
    const Panel = defineComponent({
      setup() {
        sse = useSSE<Events>('/s', { EventSource: FakeEventSource });
        expect(FakeEventSource.instances).toHaveLength(0); // not before mount
        return () => h('div', sse?.status.value);
      },
    });
    const el = document.createElement('div');
    const app = createApp(Panel);
    app.mount(el);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(el.textContent).toBe('connecting');
    app.unmount();
    expect(FakeEventSource.last.readyState).toBe(FakeEventSource.CLOSED);
    expect(sse?.status.value).toBe('closed');
  });

  it('shared: true makes the composables of a stream share one connection', async () => {
    vi.stubGlobal('navigator', { locks: new FakeLocks() });
    const scope = effectScope();
    try {
      const seen: string[][] = [[], []];
      const all = [0, 1].map(
        (i) =>
          scope.run(() =>
            useSSE<Events>(
              { group: 'g', id: 'a' },
              {
                EventSource: FakeEventSource,
                shared: true,
                events: { notification: (n) => seen[i]!.push(n.title) },
              },
            ),
          )!,
      );
      const until = async (check: () => boolean) => {
        while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
      };
      await until(() => FakeEventSource.instances.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(FakeEventSource.instances).toHaveLength(1);
      expect(all.map((sse) => sse.client.value?.role).sort()).toEqual(['follower', 'leader']);
      FakeEventSource.last.open();
      FakeEventSource.last.emit('notification', '{"id":"n","title":"both"}', '1');
      await until(() =>
        all.every((sse) => sse.status.value === 'open' && sse.lastEventId.value === '1'),
      );
      expect(seen).toEqual([['both'], ['both']]);
    } finally {
      scope.stop();
      vi.unstubAllGlobals();
    }
  });
});
