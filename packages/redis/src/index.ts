export {
  type ClusterInfo,
  type NodeReport,
  RedisCluster,
  type RedisClusterOptions,
  type RedisMetrics,
  RedisUnavailableError,
  type ReportOptions,
  redisCluster,
} from './cluster.js';
export { formatRedisMetrics } from './metrics.js';
