import type { HubInfo } from '@ssehub/core';
import type { RedisMetrics } from './cluster.js';

/** What one node reported, as `ClusterInfo` lists it. */
export interface NodeReport {
  readonly nodeId: string;
  /** When the node reported (its clock, ms since the epoch). */
  readonly reportedAt: number;
  readonly info: HubInfo;
  readonly redis: RedisMetrics;
}

/** The cluster as the live nodes last reported it. */
export interface ClusterInfo {
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

/** Sums the nodes' figures; groups are merged by name. */
export function sumInfo(infos: readonly HubInfo[]): HubInfo {
  const groups: Record<string, number> = {};
  const counters = {} as Record<string, number>;
  let clientCount = 0;
  let connectionCount = 0;
  for (const info of infos) {
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
  };
}
