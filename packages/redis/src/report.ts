/**
 * Reporting: the node's Redis figures (`RedisMetrics`, rendered for `/metrics` through the
 * broker's status), and backplane info: each node writes its hub's `info()` under a key that
 * expires, so any node can sum the live ones.
 */

import type { BrokerMetric, HistogramSnapshot, Hub, HubInfo } from '@ssehub/core';
import type { RedisConnections } from './connection.js';
import type { Keys } from './wire.js';

/** Counters and state of the node's Redis link. */
export interface RedisMetrics {
  /** The command connection is up: sends are accepted. */
  connected: boolean;
  /** The node is subscribed and receives other nodes' sends. */
  subscribed: boolean;
  /** Times the command connection came back after it was lost. */
  reconnects: number;
  /** Errors reported (every one also went to `onError`). */
  errors: number;
  /** Sends that could not be stored: the hub refused them (`broker_unavailable`). */
  appendFailures: number;
  /** Disconnects (and sends of a hub whose history is elsewhere) that could not be published. */
  publishFailures: number;
  /** Times the subscription was lost and restored. */
  resubscribes: number;
  /** Sends delivered without their echo: Redis did not answer in order within `orderTimeoutMs`. */
  orderTimeouts: number;
  /** Messages of other nodes delivered here. */
  remoteMessages: number;
  /** Events of other nodes read back from the stream after a resubscribe (missed on pub/sub). */
  recoveredEvents: number;
}

/** The figures of `RedisMetrics` as the metrics route renders them (`ssehub_redis_*`). */
export function redisMetricList(m: RedisMetrics): BrokerMetric[] {
  return [
    {
      name: 'redis_connected',
      type: 'gauge',
      help: 'The command connection to Redis is up (1) or not (0).',
      value: +m.connected,
    },
    {
      name: 'redis_subscribed',
      type: 'gauge',
      help: "The node receives the other nodes' sends (1) or not (0).",
      value: +m.subscribed,
    },
    {
      name: 'redis_errors_total',
      type: 'counter',
      help: 'Errors of the Redis link reported through onError.',
      value: m.errors,
    },
    {
      name: 'redis_append_failures_total',
      type: 'counter',
      help: 'Sends that could not be stored in Redis (refused).',
      value: m.appendFailures,
    },
    {
      name: 'redis_publish_failures_total',
      type: 'counter',
      help: 'Disconnects that could not be published.',
      value: m.publishFailures,
    },
    {
      name: 'redis_resubscribes_total',
      type: 'counter',
      help: 'Subscriptions lost and restored.',
      value: m.resubscribes,
    },
    {
      name: 'redis_order_timeouts_total',
      type: 'counter',
      help: 'Sends delivered without waiting for their place in the backplane order.',
      value: m.orderTimeouts,
    },
    {
      name: 'redis_remote_messages_total',
      type: 'counter',
      help: 'Messages of other nodes delivered here.',
      value: m.remoteMessages,
    },
    {
      name: 'redis_recovered_events_total',
      type: 'counter',
      help: 'Events read back from the stream after a resubscribe.',
      value: m.recoveredEvents,
    },
  ];
}

/** What one node reported, as `BackplaneInfo` lists it. */
export interface NodeReport {
  readonly nodeId: string;
  /** When the node reported (its clock, ms since the epoch). */
  readonly reportedAt: number;
  readonly info: HubInfo;
  readonly redis: RedisMetrics;
}

/** The backplane as the live nodes last reported it. */
export interface BackplaneInfo {
  /** Nodes that reported within their TTL. */
  readonly nodeCount: number;
  /** Sums over the nodes (a client connected to two nodes counts on each). */
  readonly totals: HubInfo;
  readonly nodes: readonly NodeReport[];
}

/** Options of `report`. */
export interface ReportOptions {
  /** How often the node writes its figures (default 2 000 ms). */
  intervalMs?: number;
  /** How long a report lives: a node silent for longer drops out (default 3 × interval). */
  ttlMs?: number;
}

/** Writes this node's reports and reads everyone's. */
export class Reporter {
  readonly #connections: RedisConnections;
  readonly #keys: Keys;
  readonly #nodeId: string;
  readonly #metrics: () => RedisMetrics;
  readonly #error: (error: unknown, context: string) => void;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    connections: RedisConnections,
    keys: Keys,
    nodeId: string,
    metrics: () => RedisMetrics,
    error: (error: unknown, context: string) => void,
  ) {
    this.#connections = connections;
    this.#keys = keys;
    this.#nodeId = nodeId;
    this.#metrics = metrics;
    this.#error = error;
  }

  /** Reports `hub.info()` every `intervalMs` until the returned function (or `stop`) is called. */
  report(hub: Pick<Hub, 'info'>, options: ReportOptions = {}): () => void {
    const intervalMs = positive(options.intervalMs ?? 2_000, 'intervalMs');
    const ttlMs = positive(options.ttlMs ?? intervalMs * 3, 'ttlMs');
    const connections = this.#connections;
    const keys = this.#keys;
    const write = () => {
      if (!connections.commandReady) return;
      const report: NodeReport = {
        nodeId: this.#nodeId,
        reportedAt: Date.now(),
        info: withoutBroker(hub.info()),
        redis: this.#metrics(),
      };
      connections
        .call((r) =>
          r
            .multi()
            .set(keys.nodeInfo(this.#nodeId), JSON.stringify(report), 'PX', ttlMs)
            .sadd(keys.nodes, this.#nodeId)
            // The index outlives a backplane whose nodes all died only briefly.
            .pexpire(keys.nodes, ttlMs * 2)
            .exec(),
        )
        .catch((error) => this.#error(error, 'redis.report'));
    };
    clearInterval(this.#timer);
    write();
    const timer = unref(setInterval(write, intervalMs));
    this.#timer = timer;
    return () => {
      clearInterval(timer);
      if (this.#timer === timer) this.#timer = undefined;
    };
  }

  /** The backplane's totals and each live node's figures, as last reported. */
  async info(): Promise<BackplaneInfo> {
    const connections = this.#connections;
    const keys = this.#keys;
    const ids = await connections.call((r) => r.smembers(keys.nodes));
    const raw =
      ids.length === 0
        ? []
        : await connections.call((r) => r.mget(ids.map((id) => keys.nodeInfo(id))));
    const nodes: NodeReport[] = [];
    const dead: string[] = [];
    raw.forEach((json, i) => {
      if (json === null) dead.push(ids[i]!);
      else nodes.push(JSON.parse(json) as NodeReport);
    });
    // Their reports expired: the nodes are gone.
    if (dead.length > 0) connections.call((r) => r.srem(keys.nodes, ...dead)).catch(() => {});
    nodes.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    return { nodeCount: nodes.length, totals: sumInfo(nodes.map((n) => n.info)), nodes };
  }

  /** Stops reporting and removes this node from backplane info. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.#connections.commandReady) return;
    await this.#connections
      .call((r) =>
        r
          .multi()
          .del(this.#keys.nodeInfo(this.#nodeId))
          .srem(this.#keys.nodes, this.#nodeId)
          .exec(),
      )
      .catch(() => {});
  }
}

/** The broker's figures are in the report's `redis` already. */
function withoutBroker(info: HubInfo): HubInfo {
  const { broker: _, ...rest } = info;
  return rest;
}

/** Sums the nodes' figures; groups are merged by name. */
export function sumInfo(infos: readonly HubInfo[]): HubInfo {
  const groups: Record<string, number> = {};
  const counters = {} as Record<string, number>;
  let clientCount = 0;
  let connectionCount = 0;
  const disconnects = {} as Record<string, number>;
  const sums = {} as Record<
    string,
    { sum: number; count: number; buckets: { le: number; count: number }[] }
  >;
  for (const info of infos) {
    for (const [reason, value] of Object.entries(info.disconnects ?? {}))
      disconnects[reason] = (disconnects[reason] ?? 0) + value;
    for (const [name, h] of Object.entries(
      (info.histograms ?? {}) as unknown as Record<string, HistogramSnapshot>,
    )) {
      const total = (sums[name] ??= {
        sum: 0,
        count: 0,
        buckets: h.buckets.map((b) => ({ le: b.le, count: 0 })),
      });
      total.sum += h.sum;
      total.count += h.count;
      h.buckets.forEach((b, i) => {
        if (total.buckets[i]) total.buckets[i]!.count += b.count;
      });
    }
    clientCount += info.clientCount;
    connectionCount += info.connectionCount;
    for (const [group, count] of Object.entries(info.groups))
      groups[group] = (groups[group] ?? 0) + count;
    for (const [name, value] of Object.entries(info.counters))
      counters[name] = (counters[name] ?? 0) + value;
  }
  return {
    groupCount: Object.keys(groups).length,
    clientCount,
    connectionCount,
    groups,
    counters: counters as unknown as HubInfo['counters'],
    disconnects: disconnects as HubInfo['disconnects'],
    histograms: sums as unknown as HubInfo['histograms'],
  };
}

export function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0))
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

export function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
