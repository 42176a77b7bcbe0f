/// <reference types="node" />
// The client against @ssehub/core's real request handler, served by node:http through the core's
// Web Streams sink, with the npm `eventsource` package as the EventSource. Checks the protocol
// the two sides share: `connected`, typed events, Last-Event-ID replay (header and query), `reset`.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub, typedEvent } from '@ssehub/core';
import { createHandler, createStreamSink } from '@ssehub/core/adapter';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type SSEClient } from './client.js';
import { streamUrl } from './url.js';

type Events = { notification: { title: string } };

/** A minimal node:http binding of the core handler (the real one is @ssehub/node). */
function serve(hub: Hub<Events>): Server {
  const handle = createHandler(hub);
  return createServer(async (req: IncomingMessage, res) => {
    const response = await handle({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: {
        get: (name) => {
          const value = req.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
      },
      httpVersion: req.httpVersion,
      remoteAddress: req.socket.remoteAddress,
      readBody: async () => '',
    });
    if (response.kind === 'pass') return void res.writeHead(404).end();
    if (response.kind === 'response') {
      return void res.writeHead(response.status, response.headers).end(response.body);
    }
    res.writeHead(response.status, response.headers);
    res.flushHeaders();
    const { stream, sink, bind } = createStreamSink();
    bind(response.connect(sink));
    const reader = stream.getReader();
    res.on('close', () => void reader.cancel().catch(() => {}));
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      res.write(value);
    }
    res.end();
  });
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const clients: SSEClient<Events>[] = [];
let hub: Hub<Events>;
let server: Server;
let base: string;

async function start(): Promise<void> {
  hub = new Hub<Events>({ retryMs: 20, history: { maxEvents: 3 } });
  server = serve(hub);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/sse`;
}

function connect(lastEventId?: string) {
  const client = createClient<Events>(streamUrl(base, { group: 'notifications', id: 'u1' }), {
    EventSource,
    ...(lastEventId === undefined ? {} : { lastEventId }),
  });
  clients.push(client);
  const titles: string[] = [];
  const resets: unknown[] = [];
  client.on('notification', (n) => titles.push(n.title));
  client.onReset((data) => resets.push(data));
  return { client, titles, resets };
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await hub.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('against @ssehub/core', () => {
  it('connects, receives typed events, and replays what was missed across a reconnect', async () => {
    await start();
    const { client, titles } = connect();
    await until(() => client.connection !== undefined);
    expect(client.status).toBe('open');
    expect(client.connection).toMatchObject({ id: 'u1', group: 'notifications' });
    expect(typeof client.connection?.connectionId).toBe('string');

    await hub.send(
      { group: 'notifications', id: 'u1' },
      typedEvent('notification', { title: 'one' }),
    );
    await until(() => titles.length === 1);
    const firstId = client.lastEventId;
    expect(firstId).not.toBe('');

    // The server drops the client; an event sent meanwhile is replayed on the browser-style
    // reconnect (Last-Event-ID header).
    const firstConnection = client.connection?.connectionId;
    hub.disconnect({ group: 'notifications', id: 'u1' });
    await hub.send(
      { group: 'notifications', id: 'u1' },
      typedEvent('notification', { title: 'two' }),
    );
    await until(() => titles.length === 2);
    expect(titles).toEqual(['one', 'two']);
    expect(client.connection?.connectionId).not.toBe(firstConnection);
    expect(client.status).toBe('open');

    // A fresh client resuming from the first id (the `lastEventId` query parameter) gets 'two'.
    const resumed = connect(firstId);
    await until(() => resumed.titles.length === 1);
    expect(resumed.titles).toEqual(['two']);
    expect(resumed.resets).toEqual([]);
  });

  it('gets reset when the history no longer reaches back to its lastEventId', async () => {
    await start();
    const { client, titles } = connect();
    await until(() => client.status === 'open' && client.connection !== undefined);
    await hub.send(
      { group: 'notifications', id: 'u1' },
      typedEvent('notification', { title: 'old' }),
    );
    await until(() => titles.length === 1);
    const oldId = client.lastEventId;
    for (let i = 0; i < 5; i++) {
      await hub.send(
        { group: 'notifications', id: 'u1' },
        typedEvent('notification', { title: `n${i}` }),
      );
    }
    await until(() => titles.length === 6);

    const late = connect(oldId);
    await until(() => late.resets.length === 1);
    expect(late.resets[0]).toMatchObject({ lastEventId: oldId });
    expect(late.titles).toEqual([]);
    expect(late.client.lastEventId).toBe(client.lastEventId); // the reset carries the newest id
  });
});
