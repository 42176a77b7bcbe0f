import type { SlowClientPolicy } from './connection.js';
import type { HandlerOptions } from './http.js';
import type { HubOptions } from './hub.js';

/** Environment variables as a plain object (`process.env`, `Deno.env.toObject()`, `Bun.env`). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the standard `SSE_*` variables every ssehub app understands, so the example apps and the
 * demo are configured the same way on every runtime:
 *
 * | variable | option |
 * | --- | --- |
 * | `SSE_SECRET` | `jwtSecret`: HS256 token auth on streams |
 * | `SSE_JWT_DEFAULT_GROUPS` | `jwtDefaultGroups`: comma-separated groups for tokens without `groups` |
 * | `SSE_JWT_REQUIRE_EXP` | `jwtRequireExp`: `0` accepts tokens without `exp` (default `1`) |
 * | `SSE_PUBLISH_KEY` | `publisherKey` for the admin routes: publish, disconnect, info, metrics |
 * | `SSE_UNSAFE_OPEN_ADMIN` | `1`: `unsafeOpenAdminRoutes`, admin routes open to anyone (local development only) |
 * | `SSE_BASE` | `base` (default `/api/v1/sse`) |
 * | `SSE_CORS_ORIGINS` | `cors.origin`: `*` or a comma-separated list; `SSE_CORS_CREDENTIALS=1` |
 * | `SSE_HEARTBEAT_MS`, `SSE_RETRY_MS`, `SSE_IDLE_TIMEOUT_MS`, `SSE_SWEEP_MS` | timings |
 * | `SSE_RETRY_JITTER`, `SSE_MAX_STREAM_MS` | `retryJitter`, `maxStreamMs` (stream lifetime) |
 * | `SSE_MAX_QUEUED_EVENTS`, `SSE_MAX_QUEUED_BYTES`, `SSE_SLOW_POLICY` | slow-client handling |
 * | `SSE_HISTORY_MAX`, `SSE_HISTORY_MAX_AGE_MS` | replay history bounds |
 * | `SSE_MAX_CONNECTIONS`, `SSE_MAX_PER_CLIENT`, `SSE_MAX_PER_IP`, `SSE_MAX_BODY` | limits |
 * | `SSE_PRESENCE_EVENTS` | `presence.events`: `*`, or comma-separated groups; `room_*` matches by prefix |
 * | `SSE_PRESENCE_GRACE_MS` | `presence.graceMs` (default 5 000) |
 * | `SSE_METRICS_GROUPS` | `metrics.groups`: per-group series for `*` or the groups listed (same syntax) |
 * | `SSE_ADMIT_PER_SECOND` | `limits.admitPerSecond`: new streams admitted per second |
 *
 * Flags take `1`/`true` or `0`/`false`. Throws a `RangeError` naming the variable when a value
 * is malformed.
 */
export function configFromEnv(env: Env): { hub: HubOptions; handler: HandlerOptions } {
  const number = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`${name} must be a non-negative number, got "${raw}"`);
    return value;
  };
  const text = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const flag = (name: string): boolean | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    if (raw === '1' || raw === 'true') return true;
    if (raw === '0' || raw === 'false') return false;
    throw new RangeError(`${name} must be 1, true, 0 or false, got "${raw}"`);
  };
  const list = (name: string): string[] | undefined =>
    text(name)
      ?.split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  const policy = text('SSE_SLOW_POLICY');
  if (policy !== undefined && policy !== 'disconnect' && policy !== 'drop-oldest') {
    throw new RangeError(`SSE_SLOW_POLICY must be "disconnect" or "drop-oldest", got "${policy}"`);
  }
  const origins = text('SSE_CORS_ORIGINS');
  const presenceEvents = groupList(list('SSE_PRESENCE_EVENTS'));
  const metricsGroups = groupList(list('SSE_METRICS_GROUPS'));
  const hub: HubOptions = {
    heartbeatMs: number('SSE_HEARTBEAT_MS'),
    retryMs: number('SSE_RETRY_MS'),
    retryJitter: number('SSE_RETRY_JITTER'),
    maxStreamMs: number('SSE_MAX_STREAM_MS'),
    idleTimeoutMs: number('SSE_IDLE_TIMEOUT_MS'),
    sweepIntervalMs: number('SSE_SWEEP_MS'),
    maxQueuedEvents: number('SSE_MAX_QUEUED_EVENTS'),
    maxQueuedBytes: number('SSE_MAX_QUEUED_BYTES'),
    slowClientPolicy: policy as SlowClientPolicy | undefined,
    history: { maxEvents: number('SSE_HISTORY_MAX'), maxAgeMs: number('SSE_HISTORY_MAX_AGE_MS') },
    presence: { events: presenceEvents, graceMs: number('SSE_PRESENCE_GRACE_MS') },
    metrics: { groups: metricsGroups },
  };
  const handler: HandlerOptions = {
    base: text('SSE_BASE'),
    jwtSecret: text('SSE_SECRET'),
    jwtDefaultGroups: list('SSE_JWT_DEFAULT_GROUPS'),
    jwtRequireExp: flag('SSE_JWT_REQUIRE_EXP'),
    publisherKey: text('SSE_PUBLISH_KEY'),
    unsafeOpenAdminRoutes: flag('SSE_UNSAFE_OPEN_ADMIN'),
    maxBodyBytes: number('SSE_MAX_BODY'),
    cors:
      origins === undefined
        ? undefined
        : {
            origin: origins === '*' ? '*' : origins.split(',').map((o) => o.trim()),
            credentials: env.SSE_CORS_CREDENTIALS === '1' || env.SSE_CORS_CREDENTIALS === 'true',
          },
    limits: {
      maxConnections: number('SSE_MAX_CONNECTIONS'),
      maxConnectionsPerClient: number('SSE_MAX_PER_CLIENT'),
      maxConnectionsPerIp: number('SSE_MAX_PER_IP'),
      admitPerSecond: number('SSE_ADMIT_PER_SECOND'),
    },
  };
  return { hub: strip(hub), handler: strip(handler) };
}

/**
 * A list of groups from a variable: `*` is every group, a name ending in `*` matches by prefix,
 * other names exactly.
 */
function groupList(names: string[] | undefined): ((group: string) => boolean) | undefined {
  if (names === undefined || names.length === 0) return undefined;
  if (names.includes('*')) return () => true;
  const exact = new Set(names.filter((n) => !n.endsWith('*')));
  const prefixes = names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  return (group) => exact.has(group) || prefixes.some((p) => group.startsWith(p));
}

/** Drops undefined keys so spreading the result never overrides a default with undefined. */
function strip<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    const v = value[key];
    if (v === undefined) delete value[key];
    else if (
      v !== null &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.getPrototypeOf(v) === Object.prototype
    ) {
      strip(v as object);
    }
  }
  return value;
}
