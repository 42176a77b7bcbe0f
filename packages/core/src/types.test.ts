import { describe, expect, expectTypeOf, it } from 'vitest';
import { newEvent, typedEvent } from './event.js';
import { Hub } from './hub.js';
import type { ClientRef } from './target.js';

type Events = {
  notification: { title: string };
  task_progress: { task: string; percent: number };
};

describe('event map typing (checked by tsc --noEmit)', () => {
  it('accepts events that match the map and rejects the others at compile time', async () => {
    const hub = new Hub<Events>();
    await hub.send({ group: 'g', id: 'a' }, typedEvent('notification', { title: 'hi' }));
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

  it('names a client one way, { group, id }: positional or swapped strings do not compile', async () => {
    const hub = new Hub<Events>();
    const event = typedEvent('notification', { title: 'hi' });
    await hub.send({ group: 'g', id: 'a' }, event);
    await hub.send({ id: 'a', group: 'g' }, event);
    // @ts-expect-error: the order (id, group) is not a signature
    await hub.send('a', 'g', event).catch(() => {});
    // @ts-expect-error: nor is (group, id)
    await hub.send('g', 'a', event).catch(() => {});
    expect(hub.disconnect({ group: 'g', id: 'a' })).toBe(0);
    // @ts-expect-error: disconnect takes the same object
    expect(() => hub.disconnect('g', 'a')).toThrow(TypeError);
    expect(hub.connectionsOf({ group: 'g', id: 'a' })).toBe(0);
    // @ts-expect-error: connectionsOf takes the same object
    expect(() => hub.connectionsOf('g', 'a')).toThrow(TypeError);
    // @ts-expect-error: a client needs both names
    await hub.send({ group: 'g' }, event).catch(() => {});
    // @ts-expect-error: sendMany takes a list of the same objects
    await hub.sendMany(['a'], event).catch(() => {});
    expectTypeOf(hub.send).parameter(0).toEqualTypeOf<ClientRef>();
    expectTypeOf(hub.disconnect).parameter(0).toEqualTypeOf<ClientRef>();
    expectTypeOf(hub.connectionsOf).parameter(0).toEqualTypeOf<ClientRef>();
    await hub.close();
  });

  it('leaves an untyped hub open to any event', async () => {
    const hub = new Hub();
    expect(await hub.broadcast({ event: 'anything', data: [1, 2] })).toBe(0);
    expect(await hub.broadcast(newEvent({ any: 'thing' }))).toBe(0);
    await hub.close();
  });
});
