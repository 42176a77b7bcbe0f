/** A hub with a broker that goes down: sends are refused before anything is delivered. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerMessage, BrokerStatus } from './broker.js';
import { SSEError } from './errors.js';
import { createHandler, type HubRequest, type PlainResponse } from './http.js';
import { Hub } from './hub.js';
import { formatMetrics } from './metrics.js';
import { MemorySink, tick } from './testing.test-util.js';

/** A broker whose state the test sets; it records what the hub published. */
class TestBroker implements Broker {
  state: BrokerStatus['state'] = 'up';
  reconnects = 0;
  published: BrokerMessage[] = [];
  start(): void {}
  publish(message: BrokerMessage): void {
    this.published.push(message);
  }
  status(): BrokerStatus {
    return {
      state: this.state,
      reconnects: this.reconnects,
      metrics: [{ name: 'test_links', type: 'gauge', help: 'Links.', value: 1 }],
    };
  }
  close(): void {}
}

/** A history store that fails like a shared store whose server is gone. */
const failingHistory = {
  append: () => Promise.reject(new Error('store unreachable')),
  since: () => ({ found: false as const, newestId: undefined }),
};

const KEY = 'test-publisher-key';
const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

function setup(options: { history?: typeof failingHistory } = {}) {
  const broker = new TestBroker();
  const hub = new Hub({ broker, ...options });
  hubs.push(hub);
  const sink = new MemorySink();
  hub.connect(sink, { group: 'g', id: 'a' });
  const handle = createHandler(hub, { publisherKey: KEY });
  const call = async (method: string, path: string, body?: unknown) => {
    const headers = new Map([
      ['content-type', 'application/json'],
      ['authorization', `Bearer ${KEY}`],
    ]);
    const request: HubRequest = {
      method,
      url: `/api/v1/sse${path}`,
      headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
      httpVersion: '1.1',
      remoteAddress: '127.0.0.1',
      readBody: async () => JSON.stringify(body),
    };
    return (await handle(request)) as PlainResponse;
  };
  return { broker, hub, sink, call };
}

describe('a hub with a broker', () => {
  it('refuses sends while the broker is down, delivering nothing, and counts them', async () => {
    const { broker, hub, sink } = setup();
    await hub.sendGroup('g', { data: 'before' });
    broker.state = 'down';
    const refused = await hub.sendGroup('g', { data: 'during' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SSEError);
    expect((refused as SSEError).code).toBe('broker_unavailable');
    expect(() => hub.disconnect('g', 'a')).toThrow(SSEError);
    broker.state = 'up';
    await hub.sendGroup('g', { data: 'after' });
    await tick();
    expect(sink.appEvents.map((e) => e.data)).toEqual(['before', 'after']);
    expect(broker.published.map((m) => m.data)).toEqual(['before', 'after']);
    expect(hub.info().broker).toMatchObject({ state: 'up', reconnects: 0, refused: 2 });
    expect(hub.connectionCount).toBe(1);
  });

  it('refuses a send whose shared history append fails, and keeps later sends in order', async () => {
    const { hub, sink } = setup({ history: failingHistory });
    const results = await Promise.allSettled([
      hub.sendGroup('g', { data: 1 }),
      hub.sendGroup('g', { data: 2 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await tick();
    expect(sink.appEvents).toEqual([]);
    expect(hub.info().broker?.refused).toBe(2);
  });

  it('answers 503 with Retry-After on publish and disconnect; /info and /metrics show the broker', async () => {
    const { broker, call } = setup();
    broker.state = 'down';
    broker.reconnects = 3;
    const publish = await call('POST', '/publish', { group: 'g', data: 'x' });
    expect(publish.status).toBe(503);
    expect(publish.headers['retry-after']).toBe('2');
    expect(JSON.parse(publish.body)).toMatchObject({
      code: 503,
      error: 'service_unavailable',
      message: expect.stringContaining('broker is unavailable'),
    });
    const disconnect = await call('POST', '/disconnect/g/a');
    expect(disconnect.status).toBe(503);
    expect(disconnect.headers['retry-after']).toBe('2');

    const info = JSON.parse((await call('GET', '/info')).body);
    expect(info.data.broker).toMatchObject({ state: 'down', reconnects: 3, refused: 2 });
    const metrics = (await call('GET', '/metrics')).body;
    expect(metrics).toContain('ssehub_broker_up 0\n');
    expect(metrics).toContain('ssehub_broker_reconnects_total 3\n');
    expect(metrics).toContain('ssehub_broker_refused_total 2\n');
    expect(metrics).toContain('# TYPE ssehub_test_links gauge\nssehub_test_links 1\n');

    broker.state = 'up';
    expect((await call('POST', '/publish', { group: 'g', data: 'x' })).status).toBe(200);
  });

  it('shows no broker fields without a broker', () => {
    const hub = new Hub();
    hubs.push(hub);
    expect(hub.info().broker).toBeUndefined();
    expect(formatMetrics(hub.info())).not.toContain('broker');
  });
});
