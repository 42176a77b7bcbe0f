import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  newEvent,
  type PlainEvent,
  typedEvent,
  type UnnamedEventsNeedAMessageEntry,
} from './event.js';
import { Hub } from './hub.js';
import type { ClientRef } from './target.js';
import { MemorySink, tick } from './testing.test-util.js';

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
    // @ts-expect-error: an unnamed event needs a `message` entry in the map
    await hub.broadcast(newEvent('plain')).catch(() => {});
    // @ts-expect-error: and the compiler's error says so, by the type's name and its one key
    await hub.broadcast({ data: 'plain' }).catch(() => {});
    expectTypeOf<PlainEvent<Events>['data']>().toEqualTypeOf<UnnamedEventsNeedAMessageEntry>();
    expectTypeOf(hub.send).returns.resolves.toEqualTypeOf<number>();
    await hub.close();
  });

  it("types unnamed events (eventSource.onmessage) by the map's `message` entry", async () => {
    type WithMessage = Events & { message: { text: string } };
    const hub = new Hub<WithMessage>();
    const sink = new MemorySink();
    hub.connect(sink, { group: 'g', id: 'a' });
    expect(await hub.broadcast({ data: { text: 'plain' } })).toBe(1);
    expect(await hub.send({ group: 'g', id: 'a' }, newEvent({ text: 'helper' }))).toBe(1);
    await tick();
    // No `event:` field: the browser dispatches them as `message`.
    expect(sink.appEvents.map((e) => [e.event, e.data])).toEqual([
      [undefined, '{"text":"plain"}'],
      [undefined, '{"text":"helper"}'],
    ]);
    // @ts-expect-error: the data of an unnamed event is the map's `message` type
    await hub.broadcast({ data: { text: 1 } }).catch(() => {});
    // @ts-expect-error: so is the data of an event named `message`
    await hub.broadcast({ event: 'message', data: 'text' }).catch(() => {});
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
