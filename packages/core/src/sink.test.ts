import { describe, expect, it } from 'vitest';
import { newEvent } from './event.js';
import { Hub } from './hub.js';
import { createStreamSink } from './sink.js';

describe('createStreamSink', () => {
  it("streams the hub's bytes through a ReadableStream", async () => {
    const hub = new Hub();
    const { stream, sink, bind } = createStreamSink();
    bind(hub.connect(sink, { group: 'g', id: 'a' }));
    await hub.broadcast(newEvent('hello'));
    const reader = stream.getReader();
    let text = '';
    while (!text.includes('hello')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^retry: \d{4}\n\nevent: connected\n/);
    await hub.close();
    expect((await reader.read()).done).toBe(true);
  });

  it('counts the bytes written since the consumer last waited: backpressure past the mark, drain when it waits again', async () => {
    const { stream, sink, bind } = createStreamSink({ highWaterMark: 100 });
    let drains = 0;
    bind({ drain: () => drains++, closed: () => {} });
    const bytes = new Uint8Array(60);
    expect(sink.write(bytes)).toBe(true);
    expect(sink.write(bytes)).toBe(false);
    expect(sink.write(bytes)).toBe(false);
    const reader = stream.getReader();
    for (let i = 0; i < 3; i++) expect((await reader.read()).value).toBe(bytes);
    expect(drains).toBe(0);
    // The stream is empty and the consumer waits: that is the pull that releases the sink.
    const next = reader.read();
    await new Promise((r) => setTimeout(r, 0));
    expect(drains).toBe(1);
    expect(sink.write(bytes)).toBe(true);
    expect((await next).value).toBe(bytes);
    // A consumer that keeps reading keeps the sink open, however much goes through.
    for (let i = 0; i < 20; i++) {
      const read = reader.read();
      await new Promise((r) => setTimeout(r, 0));
      expect(sink.write(bytes)).toBe(true);
      expect((await read).value).toBe(bytes);
    }
  });

  it('a hub behind a stream that is not read queues, and delivers everything once it is', async () => {
    const hub = new Hub({ maxQueuedEvents: 1000, maxQueuedBytes: 10 * 1024 * 1024 });
    const { stream, sink, bind } = createStreamSink({ highWaterMark: 1024 });
    const connection = hub.connect(sink, { group: 'g', id: 'a' });
    bind(connection);
    for (let i = 0; i < 50; i++) await hub.broadcast(newEvent('x'.repeat(100)));
    await new Promise((r) => setTimeout(r, 0));
    expect(connection.info.blocked).toBe(true);
    expect(connection.info.queuedEvents).toBeGreaterThan(0);
    const reader = stream.getReader();
    let events = 0;
    while (events < 50) {
      const { value } = await reader.read();
      events += (new TextDecoder().decode(value).match(/data: x/g) ?? []).length;
    }
    expect(events).toBe(50);
    await hub.close();
  });

  it('aborts the body of a client closed as slow, instead of a graceful end it would never read', async () => {
    const hub = new Hub({ maxQueuedEvents: 2 });
    const { stream, sink, bind } = createStreamSink({ highWaterMark: 16 });
    bind(hub.connect(sink, { group: 'g', id: 'a' }));
    for (let i = 0; i < 10; i++) await hub.broadcast(newEvent('x'.repeat(100)));
    expect(hub.info().counters.slowDisconnects).toBe(1);
    const reader = stream.getReader();
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return 'ended';
      })(),
    ).rejects.toThrow(/slow/);
    await hub.close();
  });

  it('reports a cancelled stream as client-closed', async () => {
    const reasons: string[] = [];
    const hub = new Hub({ onDisconnect: (_c, reason) => reasons.push(reason) });
    const { stream, sink, bind } = createStreamSink();
    bind(hub.connect(sink, { group: 'g', id: 'a' }));
    await stream.cancel();
    expect(reasons).toEqual(['client-closed']);
    expect(hub.connectionCount).toBe(0);
    await hub.close();
  });

  it('binds a stream cancelled before binding', async () => {
    const hub = new Hub();
    const { stream, sink, bind } = createStreamSink();
    const connection = hub.connect(sink, { group: 'g', id: 'a' });
    await stream.cancel();
    bind(connection);
    expect(hub.connectionCount).toBe(0);
    await hub.close();
  });
});
