import { describe, expect, expectTypeOf, it } from 'vitest';
import { newEvent, typedEvent } from './event.js';
import { Hub } from './hub.js';

type Events = {
  notification: { title: string };
  task_progress: { task: string; percent: number };
};

describe('event map typing (checked by tsc --noEmit)', () => {
  it('accepts events that match the map and rejects the others at compile time', async () => {
    const hub = new Hub<Events>();
    await hub.send('a', 'g', typedEvent('notification', { title: 'hi' }));
    await hub.sendGroup('g', { event: 'task_progress', data: { task: 't', percent: 50 } });
    // @ts-expect-error: wrong payload for the event name
    await hub.broadcast(typedEvent('notification', { title: 1 })).catch(() => {});
    // @ts-expect-error: unknown event name
    await hub.broadcast({ event: 'nope', data: {} }).catch(() => {});
    // @ts-expect-error: a plain event needs a `message` entry in the map
    await hub.broadcast(newEvent('plain')).catch(() => {});
    expectTypeOf(hub.send).returns.resolves.toEqualTypeOf<number>();
    await hub.close();
  });

  it('leaves an untyped hub open to any event', async () => {
    const hub = new Hub();
    expect(await hub.broadcast({ event: 'anything', data: [1, 2] })).toBe(0);
    expect(await hub.broadcast(newEvent({ any: 'thing' }))).toBe(0);
    await hub.close();
  });
});
