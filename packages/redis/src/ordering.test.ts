/** The ordered-delivery state machine on its own: fake timers, no Redis. */
import type { BrokerMessage } from '@ssehub/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Ordering, type OrderingCounters } from './ordering.js';
import { type Envelope, encodeBody, type StreamEntry } from './wire.js';

const ORIGIN = 'me~1';
const TIMEOUT = 1_000;

let counters: OrderingCounters;
let delivered: string[];
let errors: string[];
let ordering: Ordering;

beforeEach(() => {
  vi.useFakeTimers();
  counters = { subscribed: true, orderTimeouts: 0, remoteMessages: 0, recoveredEvents: 0 };
  delivered = [];
  errors = [];
  ordering = new Ordering({
    origin: ORIGIN,
    orderTimeoutMs: TIMEOUT,
    counters,
    onError: (_, context) => errors.push(context),
  });
  ordering.attach({
    deliver: (message: BrokerMessage) => delivered.push(message.data),
    onError: () => {},
  });
});

afterEach(() => {
  ordering.close(new Error('closed'));
  vi.useRealTimers();
});

const body = (data: string) => encodeBody({ kind: 'all' }, undefined, data, undefined, undefined);
const remote = (streamId: string, data: string, origin = 'other~2'): Envelope => ({
  streamId,
  origin,
  seq: '1',
  body: body(data),
});
const echo = (streamId: string, seq: string): Envelope => ({
  streamId,
  origin: ORIGIN,
  seq,
  body: body('own'),
});
const entry = (streamId: string, data: string, origin = 'other~2', seq = '1'): StreamEntry => [
  streamId,
  ['o', origin, 's', seq, 'm', body(data)],
];

/** Settled or not, without waiting. */
async function state(promise: Promise<string>): Promise<string> {
  return Promise.race([
    promise.then(
      (id) => `resolved ${id}`,
      (error: Error) => `rejected ${error.message}`,
    ),
    Promise.resolve().then(() => 'pending'),
  ]);
}

describe('Ordering', () => {
  it('delivers messages of other nodes in arrival order at once', () => {
    ordering.receive(remote('1-0', 'a'));
    ordering.receive(remote('2-0', 'b'));
    expect(delivered).toEqual(['a', 'b']);
    expect(ordering.watermark).toBe('2-0');
    expect(counters.remoteMessages).toBe(2);
  });

  it('lets an own send go only on its echo, and holds what follows until the hub delivered it', async () => {
    const send = ordering.begin(undefined, false);
    ordering.stored(send, '5-0', true);
    expect(await state(send.promise)).toBe('pending');

    ordering.receive(echo('5-0', send.seq));
    expect(await state(send.promise)).toBe('resolved 5-0');
    // A later message of another node waits behind the own send...
    ordering.receive(remote('6-0', 'after'));
    expect(delivered).toEqual([]);
    // ...until the hub has delivered it and publishes it.
    expect(ordering.delivered('5-0')).toBe(true);
    expect(delivered).toEqual(['after']);
    expect(ordering.watermark).toBe('6-0');
    expect(counters.orderTimeouts).toBe(0);
  });

  it('uses the app id when the send has one', async () => {
    const send = ordering.begin('app-7', false);
    ordering.stored(send, '5-0', true);
    ordering.receive(echo('5-0', send.seq));
    expect(await state(send.promise)).toBe('resolved app-7');
    expect(ordering.delivered('app-7')).toBe(true);
  });

  it('goes on without the echo after orderTimeoutMs, and counts it', async () => {
    const send = ordering.begin(undefined, false);
    ordering.stored(send, '5-0', true);
    vi.advanceTimersByTime(TIMEOUT - 1);
    expect(await state(send.promise)).toBe('pending');
    vi.advanceTimersByTime(1);
    expect(await state(send.promise)).toBe('resolved 5-0');
    expect(counters.orderTimeouts).toBe(1);
  });

  it('releases the queue after orderTimeoutMs when the hub never delivers the own send', () => {
    const send = ordering.begin(undefined, false);
    ordering.stored(send, '5-0', true);
    ordering.receive(echo('5-0', send.seq));
    ordering.receive(remote('6-0', 'after'));
    vi.advanceTimersByTime(TIMEOUT - 1);
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual(['after']);
    expect(counters.orderTimeouts).toBe(1);
  });

  it('settles at once when the send was stored but not published (no hub yet)', async () => {
    const send = ordering.begin(undefined, false);
    ordering.stored(send, '5-0', false);
    expect(await state(send.promise)).toBe('resolved 5-0');
  });

  it('rejects a send that was not stored; its late echo is only a place in the order', async () => {
    const send = ordering.begin(undefined, false);
    ordering.failed(send, new Error('Redis is gone'));
    expect(await state(send.promise)).toBe('rejected Redis is gone');
    ordering.receive(echo('5-0', send.seq));
    ordering.receive(remote('6-0', 'after'));
    expect(delivered).toEqual(['after']);
    expect(ordering.delivered('5-0')).toBe(false);
  });

  it('holds live messages while reading back, then delivers both in stream order, once', () => {
    ordering.receive(remote('1-0', 'a'));
    // The subscription was lost and is back: read back after the last id taken in.
    counters.subscribed = false;
    const from = ordering.subscribed();
    expect(from).toBe('1-0');
    ordering.receive(remote('4-0', 'd'));
    expect(delivered).toEqual(['a']);
    ordering.readBack(from!, [entry('2-0', 'b'), entry('3-0', 'c'), entry('4-0', 'd')], Date.now());
    // 'd' came twice (stream and pub/sub): once only.
    expect(delivered).toEqual(['a', 'b', 'c', 'd']);
    expect(counters.recoveredEvents).toBe(3);
    ordering.receive(remote('3-0', 'c'));
    ordering.receive(remote('5-0', 'e'));
    expect(delivered).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('places an own send stored during the outage where the stream put it', async () => {
    ordering.receive(remote('1-0', 'a'));
    const send = ordering.begin(undefined, false);
    ordering.stored(send, '3-0', true);
    const from = ordering.subscribed();
    ordering.readBack(
      from!,
      [entry('2-0', 'b'), entry('3-0', 'own', ORIGIN, send.seq), entry('4-0', 'd')],
      Date.now(),
    );
    expect(await state(send.promise)).toBe('resolved 3-0');
    expect(delivered).toEqual(['a', 'b']);
    ordering.delivered('3-0');
    expect(delivered).toEqual(['a', 'b', 'd']);
  });

  it('has nothing to read back before it took anything in', () => {
    expect(ordering.subscribed()).toBeUndefined();
    ordering.receive(remote('1-0', 'a'));
    expect(delivered).toEqual(['a']);
  });

  it('lets a replay wait until the node caught up, but never longer than orderTimeoutMs', async () => {
    ordering.receive(remote('1-0', 'a'));
    expect(ordering.caughtUpTo('1-0')).toBeUndefined();
    let caughtUp = false;
    ordering.caughtUpTo('2-0')!.then(() => {
      caughtUp = true;
    });
    ordering.receive(remote('2-0', 'b'));
    await Promise.resolve();
    expect(caughtUp).toBe(true);

    let gaveUp = false;
    ordering.caughtUpTo('9-0')!.then(() => {
      gaveUp = true;
    });
    await vi.advanceTimersByTimeAsync(TIMEOUT);
    expect(gaveUp).toBe(true);
  });

  it('reports a malformed body and goes on', () => {
    ordering.receive({ streamId: '1-0', origin: 'other~2', seq: '1', body: '{' });
    ordering.receive(remote('2-0', 'b'));
    expect(errors).toEqual(['redis.message']);
    expect(delivered).toEqual(['b']);
  });

  it('rejects what still waits when it closes', async () => {
    const send = ordering.begin(undefined, false);
    ordering.close(new Error('closed'));
    expect(await state(send.promise)).toBe('rejected closed');
  });
});
