import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Hub } from './hub.js';
import { formatMetrics, Histogram, promClientCollector } from './metrics.js';
import { MemorySink, tick } from './testing.test-util.js';

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

describe('metrics', () => {
  it('per-group series only for the groups listed', () => {
    const hub = new Hub({ metrics: { groups: ['room'] } });
    const bare = new Hub();
    hubs.push(hub, bare);
    for (const h of [hub, bare])
      for (const group of ['room', 'user_1', 'user_2'])
        h.connect(new MemorySink(), { group, id: 'a' });
    const text = formatMetrics(hub.metrics());
    expect(text).toContain('ssehub_group_clients{group="room"} 1');
    expect(text).not.toContain('user_1');
    expect(formatMetrics(bare.metrics())).not.toContain('ssehub_group_clients');
  });

  it('histograms of write delay, queue depth and replay size; disconnects by reason', async () => {
    const hub = new Hub();
    hubs.push(hub);
    const slow = new MemorySink();
    hub.connect(slow, { group: 'g', id: 'a' });
    const fast = new MemorySink();
    const fastConnection = hub.connect(fast, { group: 'g', id: 'b' });
    await tick();
    for (let i = 0; i < 3; i++) await hub.sendGroup('g', { data: i });
    await tick();
    const first = fast.events.find((e) => e.data === '0')!.id!;
    hub.connect(new MemorySink(), { group: 'g', id: 'c', lastEventId: first });
    hub.disconnect({ group: 'g', id: 'a' });
    fastConnection.closed();
    const text = formatMetrics(hub.metrics());
    // The connected events (one write each), then one write per connection per send.
    expect(text).toMatch(/ssehub_write_delay_seconds_count [1-9]/);
    expect(text).toContain('# TYPE ssehub_write_delay_seconds histogram');
    expect(text).toMatch(/ssehub_write_queue_depth_bucket\{le="\+Inf"\} [1-9]/);
    // One replay of the two events after `first`.
    expect(text).toContain('ssehub_replay_events_bucket{le="1"} 0');
    expect(text).toContain('ssehub_replay_events_bucket{le="2"} 1');
    expect(text).toContain('ssehub_replay_events_sum 2');
    expect(text).toContain('ssehub_disconnects_total{reason="kicked"} 1');
    expect(text).toContain('ssehub_disconnects_total{reason="client-closed"} 1');
    expect(text).toContain('ssehub_disconnects_total{reason="slow"} 0');
  });

  it('power-of-two buckets: a value falls in the first bound at or above it', () => {
    const h = new Histogram();
    for (const v of [0, 1, 2, 3, 4, 5, 100_000]) h.observe(v);
    const { buckets, count, sum } = h.snapshot();
    expect(buckets.slice(0, 4)).toEqual([
      { le: 1, count: 2 },
      { le: 2, count: 3 },
      { le: 4, count: 5 },
      { le: 8, count: 6 },
    ]);
    expect(buckets.at(-1)).toEqual({ le: 32_768, count: 6 });
    expect(new Histogram(3).snapshot().buckets.map((b) => b.le)).toEqual([1, 2, 4]);
    expect(count).toBe(7);
    expect(sum).toBe(100_015);
  });

  it("adds the hub's families to an app's prom-client registry, current at each scrape", async () => {
    const hub = new Hub();
    hubs.push(hub);
    const registry = new Registry();
    new (await import('prom-client')).Counter({
      name: 'app_requests_total',
      help: "The app's own.",
      registers: [registry],
    }).inc(3);
    promClientCollector(registry, () => hub.metrics());
    hub.connect(new MemorySink(), { group: 'g', id: 'a' });
    await tick();
    const text = await registry.metrics();
    expect(text).toContain('app_requests_total 3');
    expect(text).toContain('ssehub_connections 1');
    expect(text).toContain('# TYPE ssehub_write_delay_seconds histogram');
    expect(text).toMatch(/ssehub_write_delay_seconds_bucket\{le="0.001"\} 1/);
    expect(text).toContain('ssehub_disconnects_total{reason="kicked"} 0');
    hub.disconnect({ group: 'g', id: 'a' });
    const later = await registry.metrics();
    expect(later).toContain('ssehub_connections 0');
    expect(later).toContain('ssehub_disconnects_total{reason="kicked"} 1');
    // The JSON form prom-client offers works too.
    const json = await registry.getMetricsAsJSON();
    expect(json.find((m) => m.name === 'ssehub_connections')?.values[0]?.value).toBe(0);
  });
});
