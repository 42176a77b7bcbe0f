import type { RedisMetrics } from './cluster.js';

/**
 * Renders a node's Redis link metrics in the Prometheus text format, to append to core's
 * `formatMetrics(hub.info())` on the metrics route.
 */
export function formatRedisMetrics(metrics: RedisMetrics, prefix = 'ssehub'): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number) => {
    lines.push(
      `# HELP ${prefix}_redis_${name} ${help}`,
      `# TYPE ${prefix}_redis_${name} ${type}`,
      `${prefix}_redis_${name} ${value}`,
    );
  };
  metric(
    'connected',
    'gauge',
    'The command connection to Redis is up (1) or not (0).',
    +metrics.connected,
  );
  metric(
    'subscribed',
    'gauge',
    "The node receives the other nodes' sends (1) or not (0).",
    +metrics.subscribed,
  );
  metric(
    'errors_total',
    'counter',
    'Errors of the Redis link reported through onError.',
    metrics.errors,
  );
  metric(
    'append_failures_total',
    'counter',
    'Sends that could not be stored in Redis (delivered locally only).',
    metrics.appendFailures,
  );
  metric(
    'publish_failures_total',
    'counter',
    'Disconnects and unstored sends that could not be published.',
    metrics.publishFailures,
  );
  metric('resubscribes_total', 'counter', 'Subscriptions lost and restored.', metrics.resubscribes);
  metric(
    'order_timeouts_total',
    'counter',
    'Sends delivered without waiting for their place in the cluster order.',
    metrics.orderTimeouts,
  );
  metric(
    'remote_messages_total',
    'counter',
    'Messages of other nodes delivered here.',
    metrics.remoteMessages,
  );
  metric(
    'recovered_events_total',
    'counter',
    'Events read back from the stream after a resubscribe.',
    metrics.recoveredEvents,
  );
  return `${lines.join('\n')}\n`;
}
