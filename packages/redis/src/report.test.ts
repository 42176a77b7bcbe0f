import { formatMetrics, Hub } from '@ssehub/core';
import { describe, expect, it } from 'vitest';
import { redisMetricList, sumInfo } from './report.js';

describe('redisMetricList', () => {
  it("renders through core's formatMetrics as ssehub_redis_* gauges and counters", () => {
    const info = new Hub().info();
    const text = formatMetrics({
      ...info,
      broker: {
        state: 'down',
        reconnects: 2,
        refused: 5,
        metrics: redisMetricList({
          connected: false,
          subscribed: false,
          reconnects: 2,
          errors: 3,
          appendFailures: 2,
          publishFailures: 1,
          resubscribes: 1,
          orderTimeouts: 0,
          remoteMessages: 10,
          recoveredEvents: 4,
        }),
      },
    });
    expect(text).toContain('ssehub_broker_up 0\n');
    expect(text).toContain('ssehub_broker_reconnects_total 2\n');
    expect(text).toContain('ssehub_broker_refused_total 5\n');
    expect(text).toContain('ssehub_redis_connected 0\n');
    expect(text).toContain(
      '# TYPE ssehub_redis_append_failures_total counter\nssehub_redis_append_failures_total 2\n',
    );
  });
});

describe('sumInfo', () => {
  it('sums clients and merges groups by name', () => {
    const a = { ...new Hub().info(), clientCount: 2, groups: { g: 2 } };
    const b = { ...new Hub().info(), clientCount: 1, groups: { g: 1, h: 1 } };
    const total = sumInfo([a, b]);
    expect(total.clientCount).toBe(3);
    expect(total.groups).toEqual({ g: 3, h: 1 });
    expect(total.groupCount).toBe(2);
  });

  it('sums disconnects by reason and histograms bucket by bucket', async () => {
    const hubs = [new Hub(), new Hub()];
    for (const hub of hubs) {
      hub.connect({ write: () => true, close: () => {} }, { group: 'g', id: 'a' });
      hub.disconnect({ group: 'g', id: 'a' });
    }
    const total = sumInfo(hubs.map((h) => h.info()));
    expect(total.disconnects.kicked).toBe(2);
    expect(total.histograms.writeDelayMs.count).toBe(2);
    expect(total.histograms.writeDelayMs.buckets.at(-1)!.count).toBe(2);
    await Promise.all(hubs.map((h) => h.close()));
  });
});
