import { createServer } from 'node:http';
import { Hub, type HubOptions } from '@ssehub/core';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, test } from 'vitest';
import { type SSEHandlerOptions, sseHandler } from './index.js';
import { closeServer, listen, openStream, waitFor } from './testing.test-util.js';

// Stream lifetimes and reconnect storms, through HTTP.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(hubOptions: HubOptions, handlerOptions: SSEHandlerOptions = {}) {
  const hub = new Hub(hubOptions);
  const server = createServer(sseHandler(hub, handlerOptions));
  const origin = await listen(server);
  cleanups.push(async () => {
    await hub.close();
    await closeServer(server);
  });
  return { hub, url: `${origin}/api/v1/sse` };
}

describe('maxStreamMs', () => {
  test('lifetimes of 2 s over 20 s of events: a real EventSource receives every event once', async () => {
    const { hub, url } = await start({ maxStreamMs: 2_000, retryMs: 100 });
    const source = new EventSource(`${url}/stream/g/a`);
    cleanups.push(() => source.close());
    const received: number[] = [];
    let opens = 0;
    source.addEventListener('open', () => opens++);
    source.addEventListener('tick', (event) => received.push(Number(event.data)));
    await waitFor(() => opens === 1, 5_000, 'the first open');

    // 20 s of events, one every 100 ms, sent whether or not the client is connected right now.
    const total = 200;
    for (let n = 0; n < total; n++) {
      await hub.sendGroup('g', { event: 'tick', data: n });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitFor(() => received.length >= total, 10_000, 'every event');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received).toEqual(Array.from({ length: total }, (_, n) => n));
    const counters = hub.info().counters;
    // Each stream lives 1.8–2 s: at least 9 ends over 20 s, each followed by a reconnect.
    expect(counters.lifetimeDisconnects).toBeGreaterThanOrEqual(9);
    expect(opens).toBeGreaterThanOrEqual(10);
    expect(counters.resets).toBe(0);
  }, 60_000);

  test('a stream ends with a fresh jittered retry after what was queued', async () => {
    const { hub, url } = await start({ maxStreamMs: 300, retryMs: 1_000 });
    const stream = await openStream(`${url}/stream/g/b`);
    await stream.waitForEvent((e) => e.event === 'connected');
    await hub.sendGroup('g', { event: 'last', data: 1 });
    await waitFor(() => stream.ended, 5_000, 'the end of the stream');
    expect(stream.events.map((e) => e.event)).toEqual(['connected', 'last']);
    expect(stream.retries).toHaveLength(2);
    for (const retry of stream.retries) {
      expect(retry).toBeGreaterThanOrEqual(1_000);
      expect(retry).toBeLessThanOrEqual(1_500);
    }
    expect(hub.info().counters.lifetimeDisconnects).toBe(1);
  });
});

describe('limits.admitPerSecond', () => {
  test('streams over the rate get 503 with a Retry-After that spreads them', async () => {
    const { hub, url } = await start({}, { limits: { admitPerSecond: 5 } });
    const statuses: number[] = [];
    const waits: number[] = [];
    const streams = [];
    for (let i = 0; i < 15; i++) {
      const stream = await openStream(`${url}/stream/g/c${i}`);
      statuses.push(stream.status);
      if (stream.status === 503) {
        waits.push(Number(stream.headers['retry-after']));
        expect(JSON.parse(await readAll(stream))).toMatchObject({ code: 503 });
      } else streams.push(stream);
    }
    // A bucket of one second's worth (5), then refusals; the test runs well within a second.
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(8);
    // Each refused stream is handed the next free slot at 5/s: 1 s, then 2 s, ...
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    expect(waits[0]).toBe(1);
    expect(waits.at(-1)).toBeGreaterThanOrEqual(2);
    expect(hub.connectionCount).toBe(streams.length);
    for (const stream of streams) stream.close();
  });
});

async function readAll(stream: { ended: boolean; text: string }): Promise<string> {
  await waitFor(() => stream.ended, 5_000, 'the response end');
  return stream.text;
}
