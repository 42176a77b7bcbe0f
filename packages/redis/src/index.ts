export {
  RedisBackplane,
  type RedisBackplaneOptions,
  redisBackplane,
} from './backplane.js';
export { RedisUnavailableError } from './connection.js';
export { backplaneFromEnv } from './env.js';
export type { BackplaneInfo, NodeReport, RedisMetrics, ReportOptions } from './report.js';
