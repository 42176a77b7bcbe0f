export {
  RedisCluster,
  type RedisClusterOptions,
  type RedisMetrics,
  RedisUnavailableError,
  redisCluster,
} from './cluster.js';
export { clusterFromEnv } from './env.js';
export type { ClusterInfo, NodeReport, ReportOptions } from './info.js';
export { formatRedisMetrics } from './metrics.js';
