import type { HubInfo } from './hub.js';
import { groupMatcher } from './presence.js';

/** One sample of a family: its full name (`_bucket`, `_sum`, `_count` for histograms), labels, value. */
export interface MetricSample {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A Prometheus metric family: what `formatMetrics` renders and `promClientCollector` registers. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly samples: readonly MetricSample[];
}

/** What the metrics include (`HubOptions.metrics`). */
export interface MetricsOptions {
  /** Name prefix (default `ssehub`). */
  readonly prefix?: string;
  /**
   * Which groups get a `<prefix>_group_clients{group}` series: none by default (one series per
   * group is unbounded for per-user groups), `true` for all, or a list, pattern or test.
   */
  readonly groups?: boolean | readonly string[] | RegExp | ((group: string) => boolean);
}

/** A histogram's state: cumulative counts per upper bound (`le`), sum and count. */
export interface HistogramSnapshot {
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

/**
 * A histogram with power-of-two bounds 1, 2, 4 ... 2^(buckets − 1) (and +Inf): observing is a
 * `clz32` and two additions, cheap enough for every write of every connection.
 */
export class Histogram {
  readonly #buckets: number;
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(buckets = 16) {
    this.#buckets = buckets;
    this.#counts = new Float64Array(buckets + 1);
  }

  observe(value: number): void {
    const v = value > 1 ? Math.ceil(value) : 1;
    const i = v === 1 ? 0 : 32 - Math.clz32(v - 1);
    this.#counts[i < this.#buckets ? i : this.#buckets]!++;
    this.#sum += value > 0 ? value : 0;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    const buckets: { le: number; count: number }[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.#buckets; i++) {
      cumulative += this.#counts[i]!;
      buckets.push({ le: 2 ** i, count: cumulative });
    }
    return { buckets, sum: this.#sum, count: this.#count };
  }
}

/** The hub's info as Prometheus families (`hub.metrics()` passes the hub's `metrics` option). */
export function collectMetrics(info: HubInfo, options: MetricsOptions = {}): MetricFamily[] {
  const prefix = options.prefix ?? 'ssehub';
  const c = info.counters;
  const families: MetricFamily[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number) => {
    families.push({
      name: `${prefix}_${name}`,
      help,
      type,
      samples: [{ name: `${prefix}_${name}`, value }],
    });
  };
  const histogram = (name: string, help: string, h: HistogramSnapshot | undefined, scale = 1) => {
    if (h === undefined) return;
    const full = `${prefix}_${name}`;
    const samples: MetricSample[] = h.buckets.map((b) => ({
      name: `${full}_bucket`,
      labels: { le: String(b.le / scale) },
      value: b.count,
    }));
    samples.push(
      { name: `${full}_bucket`, labels: { le: '+Inf' }, value: h.count },
      { name: `${full}_sum`, value: h.sum / scale },
      { name: `${full}_count`, value: h.count },
    );
    families.push({ name: full, help, type: 'histogram', samples });
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
  metric(
    'events_rejected_total',
    'counter',
    'Sends refused by the event catalog (invalid data or an unknown name).',
    c.eventsRejected,
  );
  metric('heartbeats_total', 'counter', 'Heartbeat comments written.', c.heartbeats);
  metric('connections_opened_total', 'counter', 'Streams opened.', c.connectionsOpened);
  metric('connections_closed_total', 'counter', 'Streams closed.', c.connectionsClosed);
  if (info.disconnects !== undefined) {
    families.push({
      name: `${prefix}_disconnects_total`,
      help: 'Streams ended, by reason (client-closed, kicked, slow, stalled, expired, lifetime, shutdown, error).',
      type: 'counter',
      samples: Object.entries(info.disconnects).map(([reason, value]) => ({
        name: `${prefix}_disconnects_total`,
        labels: { reason },
        value,
      })),
    });
  }
  const h = info.histograms;
  histogram(
    'write_delay_seconds',
    'Time from a send (heartbeat, replay) to its write reaching the transport.',
    h?.writeDelayMs,
    1000,
  );
  histogram(
    'write_queue_depth',
    'Chunks queued for a connection, merged into one write.',
    h?.queueDepth,
  );
  histogram(
    'replay_events',
    'Events replayed to a connection that resumed with Last-Event-ID.',
    h?.replaySize,
  );
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
  const listed = groupTest(options.groups);
  if (listed !== undefined) {
    families.push({
      name: `${prefix}_group_clients`,
      help: 'Clients per group (the groups listed in the metrics options).',
      type: 'gauge',
      samples: Object.entries(info.groups)
        .filter(([group]) => listed(group))
        .map(([group, count]) => ({
          name: `${prefix}_group_clients`,
          labels: { group },
          value: count,
        })),
    });
  }
  return families;
}

function groupTest(groups: MetricsOptions['groups']): ((group: string) => boolean) | undefined {
  if (groups === undefined || groups === false) return undefined;
  if (groups === true) return () => true;
  return groupMatcher(groups);
}

/**
 * Renders metric families (`hub.metrics()`) in the Prometheus text exposition format (version
 * 0.0.4). Given a hub's `info()` instead, renders `collectMetrics(info, { prefix })`.
 */
export function formatMetrics(
  source: readonly MetricFamily[] | HubInfo,
  prefix = 'ssehub',
): string {
  const families = Array.isArray(source)
    ? (source as readonly MetricFamily[])
    : collectMetrics(source as HubInfo, { prefix });
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = sample.labels
        ? `{${Object.entries(sample.labels)
            .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
            .join(',')}}`
        : '';
      lines.push(`${sample.name}${labels} ${sample.value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`));
}

/** The part of prom-client's `Registry` that `promClientCollector` uses. */
export interface PromRegistryLike {
  registerMetric(metric: never): void;
}

/**
 * Adds a source of metric families (e.g. `() => hub.metrics()`) to an app's existing prom-client
 * registry, so its `/metrics` serves ssehub's figures beside its own. Core imports nothing of
 * prom-client: each family becomes an object with prom-client's collector shape (`name`, `help`,
 * `type`, `aggregator`, `get()`, `reset()`).
 *
 * ```ts
 * import { register } from 'prom-client';
 * promClientCollector(register, () => hub.metrics());
 * ```
 *
 * Register once; the names come from the first collection (families that only appear later are
 * not added). Counter names already end in `_total`, as the Prometheus text format (the registry's
 * default content type) wants them.
 */
export function promClientCollector(
  registry: PromRegistryLike,
  collect: () => readonly MetricFamily[],
): void {
  // prom-client asks every metric at once (one `get()` each, in one turn): collect once per turn.
  let cached: readonly MetricFamily[] | undefined;
  const current = (): readonly MetricFamily[] => {
    if (cached === undefined) {
      cached = collect();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };
  for (const family of collect()) {
    const name = family.name;
    const metric = {
      name,
      help: family.help,
      type: family.type,
      aggregator: 'sum',
      collect: undefined,
      get: () => {
        const found = current().find((f) => f.name === name);
        return {
          name,
          help: family.help,
          type: family.type,
          aggregator: 'sum',
          values: (found?.samples ?? []).map((s) => ({
            value: s.value,
            labels: { ...s.labels },
            metricName: s.name,
          })),
        };
      },
      reset: () => {},
    };
    registry.registerMetric(metric as never);
  }
}
