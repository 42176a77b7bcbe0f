import { describe, expect, it } from 'vitest';
import { configFromEnv } from './config.js';

describe('configFromEnv', () => {
  it('maps SSE_* variables to hub and handler options and leaves the rest at defaults', () => {
    const { hub, handler } = configFromEnv({
      SSE_SECRET: 's',
      SSE_PUBLISH_KEY: 'k',
      SSE_HEARTBEAT_MS: '500',
      SSE_SLOW_POLICY: 'drop-oldest',
      SSE_CORS_ORIGINS: 'https://a.example, https://b.example',
      SSE_MAX_PER_IP: '3',
    });
    expect(hub).toEqual({
      heartbeatMs: 500,
      slowClientPolicy: 'drop-oldest',
      history: {},
      presence: {},
      metrics: {},
    });
    expect(handler).toEqual({
      jwtSecret: 's',
      publisherKey: 'k',
      cors: { origin: ['https://a.example', 'https://b.example'], credentials: false },
      limits: { maxConnectionsPerIp: 3 },
    });
  });

  it('reads the admin opt-in and the token rules', () => {
    const { handler } = configFromEnv({
      SSE_UNSAFE_OPEN_ADMIN: '1',
      SSE_JWT_DEFAULT_GROUPS: 'news, public',
      SSE_JWT_REQUIRE_EXP: '0',
    });
    expect(handler).toEqual({
      unsafeOpenAdminRoutes: true,
      jwtDefaultGroups: ['news', 'public'],
      jwtRequireExp: false,
      limits: {},
    });
    expect(() => configFromEnv({ SSE_UNSAFE_OPEN_ADMIN: 'yes' })).toThrow(/SSE_UNSAFE_OPEN_ADMIN/);
  });

  it('reads presence events, its grace and the per-group metrics as lists with prefixes', () => {
    const { hub } = configFromEnv({
      SSE_PRESENCE_EVENTS: 'lobby, room_*',
      SSE_PRESENCE_GRACE_MS: '250',
      SSE_METRICS_GROUPS: '*',
    });
    const events = hub.presence!.events as (group: string) => boolean;
    expect(['lobby', 'room_1', 'room_', 'lobby2', 'users'].map(events)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(hub.presence!.graceMs).toBe(250);
    expect((hub.metrics!.groups as (group: string) => boolean)('anything')).toBe(true);
  });

  it('names the variable that is malformed', () => {
    expect(() => configFromEnv({ SSE_HEARTBEAT_MS: 'soon' })).toThrow(/SSE_HEARTBEAT_MS/);
    expect(() => configFromEnv({ SSE_SLOW_POLICY: 'ignore' })).toThrow(/SSE_SLOW_POLICY/);
  });
});
