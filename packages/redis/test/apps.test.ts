/**
 * The example apps scale out with nothing but REDIS_URL: two processes of apps/node sharing one
 * Redis are one backplane, so a client on either is reachable through the other's publish route;
 * each shows the broker's state and the Redis figures on its own /info and /metrics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { uniquePrefix } from './helpers.js';
import { admin, PUBLISH_KEY, publish } from './processes.js';
import { FetchClient } from './sse-client.js';

const appDir = fileURLToPath(new URL('../../../apps/node/', import.meta.url));
const children: ChildProcess[] = [];

afterAll(async () => {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
        }),
    ),
  );
});

function startApp(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: appDir,
    env: { ...process.env, PORT: '0', SSE_PUBLISH_KEY: PUBLISH_KEY, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (data: Buffer) => {
      out += data.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) resolve(`${match[1]}/api/v1/sse`);
    });
    child.once('exit', (code) => reject(new Error(`apps/node exited with ${code}: ${out}`)));
  });
}

describe('apps/node with REDIS_URL', () => {
  it('two processes are one backplane: unicast, group and broadcast cross between them', async () => {
    const env = { REDIS_URL: inject('redisUrl'), SSE_REDIS_PREFIX: uniquePrefix('apps') };
    const [a, b] = await Promise.all([startApp(env), startApp(env)]);
    const onB = new FetchClient(`${b}/stream/room/bob`);
    const onA = new FetchClient(`${a}/stream/room/alice`);
    await expect.poll(() => onA.received.length + onB.received.length, { timeout: 10_000 }).toBe(2);
    await publish(a, { group: 'room', id: 'bob', event: 'notification', data: { n: 1 } });
    await publish(b, { group: 'room', data: { n: 2 } });
    await publish(a, { data: { n: 3 } });
    const appEvents = (client: FetchClient) =>
      client.received.filter((e) => e.event !== 'connected').map((e) => JSON.parse(e.data).n);
    await expect.poll(() => appEvents(onB), { timeout: 10_000 }).toEqual([1, 2, 3]);
    await expect.poll(() => appEvents(onA), { timeout: 10_000 }).toEqual([2, 3]);
    // Ids come from the shared Redis stream: the same event has the same id on both processes.
    const idsOnA = onA.received.filter((e) => e.event !== 'connected').map((e) => e.id);
    const idsOnB = onB.received.filter((e) => e.event !== 'connected').map((e) => e.id);
    expect(idsOnB.slice(1)).toEqual(idsOnA);
    // The broker's state and the Redis figures are on the app's own /info and /metrics.
    const info = (await (await admin(a, 'info')).json()) as { data: { broker: { state: string } } };
    expect(info.data.broker.state).toBe('up');
    const metrics = await (await admin(b, 'metrics')).text();
    expect(metrics).toContain('ssehub_broker_up 1\n');
    expect(metrics).toContain('ssehub_broker_refused_total 0\n');
    expect(metrics).toContain('ssehub_redis_connected 1\n');
    expect(metrics).toMatch(/ssehub_redis_remote_messages_total [1-9]/);
    await Promise.all([onA.close(), onB.close()]);
  }, 60_000);
});
