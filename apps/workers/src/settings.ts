/**
 * The app's settings from the Worker's bindings. Plain TypeScript with no Workers API, so the
 * local launcher (scripts/worker.mjs) runs the same checks in Node before it starts workerd.
 */

import { configFromEnv } from '@ssehub/core';

/**
 * The object's settings from its bindings: the `SSE_*` string bindings read by `configFromEnv`,
 * plus this app's own. Throws a `RangeError` naming a malformed variable, or a per-IP limit that
 * could never apply (no trusted source of client addresses).
 */
export function settings(env: Readonly<Record<string, unknown>>) {
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries(env))
    if (key.startsWith('SSE_') && typeof value === 'string') vars[key] = value;
  const config = configFromEnv(vars);
  const trustCfConnectingIp = vars.SSE_TRUST_CF_CONNECTING_IP === '1';
  if (config.handler.limits?.maxConnectionsPerIp !== undefined && !trustCfConnectingIp) {
    throw new RangeError(
      'SSE_MAX_PER_IP needs the client addresses: set SSE_TRUST_CF_CONNECTING_IP=1 (on Cloudflare, ' +
        'where the edge sets CF-Connecting-IP), or leave SSE_MAX_PER_IP unset.',
    );
  }
  return { config, trustCfConnectingIp, objectName: vars.SSE_OBJECT_NAME ?? 'hub' };
}
