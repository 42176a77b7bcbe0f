/// <reference types="node" />
// The client against a server that admits new streams at a bounded rate (`limits.admitPerSecond`):
// refused with 503 and `Retry-After`, it waits as told, with both transports.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClientTransport, createClient, type SSEClient } from './client.js';
import { streamUrl } from './url.js';

let hub: Hub | undefined;
let server: Server | undefined;
const clients: SSEClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await hub?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe.each([
  'eventsource',
  'fetch',
] as ClientTransport[])('with the %s transport', (transport) => {
  it('a stream refused with 503 and Retry-After comes back after it, not before', async () => {
    hub = new Hub();
    const handle = sseHandler(hub, { limits: { admitPerSecond: 1 } });
    const requests: { method: string; status: number; at: number }[] = [];
    server = createServer((req, res) => {
      res.on('finish', () =>
        requests.push({ method: req.method ?? '', status: res.statusCode, at: Date.now() }),
      );
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res;
      res.writeHead = ((...args: unknown[]) => {
        if (args[0] === 200)
          requests.push({ method: req.method ?? '', status: 200, at: Date.now() });
        return writeHead(...args);
      }) as typeof res.writeHead;
      handle(req, res);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/sse`;
    const open = (id: string) => {
      const client = createClient(streamUrl(base, { group: 'g', id }), {
        EventSource,
        transport,
        // Without Retry-After the client would be back every 300 ms, refused again each time.
        reconnect: { initialDelay: 300, maxDelay: 300, jitter: 0 },
      });
      clients.push(client);
      return client;
    };
    const first = open('a');
    await until(() => first.status === 'open');
    const started = Date.now();
    const second = open('b');
    await until(() => second.status === 'open');
    const waited = Date.now() - started;
    // Retry-After: 1 (plus up to a second of jitter), and one refusal only.
    expect(waited).toBeGreaterThanOrEqual(1_000);
    expect(waited).toBeLessThan(4_000);
    const refused = requests.filter((r) => r.method === 'GET' && r.status === 503);
    expect(refused).toHaveLength(1);
    if (transport === 'eventsource') {
      // The EventSource cannot read the status: one HEAD probe asked for it.
      expect(requests.filter((r) => r.method === 'HEAD').map((r) => r.status)).toEqual([503]);
    } else {
      expect(requests.filter((r) => r.method === 'HEAD')).toHaveLength(0);
    }
    expect(hub.connectionCount).toBe(2);
  });
});
