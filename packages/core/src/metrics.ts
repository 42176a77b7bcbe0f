import type { HubInfo } from './hub.js';

/** Renders hub info in the Prometheus text exposition format (version 0.0.4). */
export function formatMetrics(info: HubInfo, prefix = 'ssehub'): string {
  const c = info.counters;
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number) => {
    lines.push(
      `# HELP ${prefix}_${name} ${help}`,
      `# TYPE ${prefix}_${name} ${type}`,
      `${prefix}_${name} ${value}`,
    );
  };
  metric('connections', 'gauge', 'Open event streams.', info.connectionCount);
  metric('clients', 'gauge', 'Distinct (group, id) clients connected.', info.clientCount);
  metric('groups', 'gauge', 'Groups with at least one client.', info.groupCount);
  metric('events_sent_total', 'counter', 'Events accepted by the hub.', c.eventsSent);
  metric(
    'events_delivered_total',
    'counter',
    'Events queued to connections (one per connection reached).',
    c.eventsDelivered,
  );
  metric('bytes_written_total', 'counter', 'Bytes handed to transports.', c.bytesWritten);
  metric(
    'events_dropped_total',
    'counter',
    'Events dropped by the drop-oldest policy.',
    c.eventsDropped,
  );
  metric(
    'slow_disconnects_total',
    'counter',
    'Connections closed because their queue overflowed.',
    c.slowDisconnects,
  );
  metric(
    'stalled_disconnects_total',
    'counter',
    'Connections closed because nothing drained.',
    c.stalledDisconnects,
  );
  metric(
    'expired_disconnects_total',
    'counter',
    'Connections ended because their token expired.',
    c.expiredDisconnects,
  );
  metric(
    'events_replayed_total',
    'counter',
    'Events replayed after Last-Event-ID.',
    c.eventsReplayed,
  );
  metric('resets_total', 'counter', 'Reset events: Last-Event-ID no longer in history.', c.resets);
  metric('heartbeats_total', 'counter', 'Heartbeat comments written.', c.heartbeats);
  metric('connections_opened_total', 'counter', 'Streams opened.', c.connectionsOpened);
  metric('connections_closed_total', 'counter', 'Streams closed.', c.connectionsClosed);
  const broker = info.broker;
  if (broker !== undefined) {
    metric(
      'broker_up',
      'gauge',
      'The broker can carry sends to the other nodes (1) or not (0: sends are refused).',
      broker.state === 'up' ? 1 : 0,
    );
    metric(
      'broker_reconnects_total',
      'counter',
      "Times the broker's link came back after it was lost.",
      broker.reconnects,
    );
    metric(
      'broker_refused_total',
      'counter',
      'Sends and disconnects refused (503) because the broker was unavailable.',
      broker.refused,
    );
    for (const m of broker.metrics ?? []) metric(m.name, m.type, m.help, m.value);
  }
  lines.push(
    `# HELP ${prefix}_group_clients Clients per group.`,
    `# TYPE ${prefix}_group_clients gauge`,
  );
  for (const [group, count] of Object.entries(info.groups)) {
    lines.push(
      `${prefix}_group_clients{group="${group.replace(/[\\"\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`))}"} ${count}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
