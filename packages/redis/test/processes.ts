import { type ChildProcess, spawn } from 'node:child_process';
import { bundle } from './bundle.js';
import { uniquePrefix } from './helpers.js';

/** A hub process started from the bundled fixture. */
export interface HubProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>/api/v1/sse` */
  readonly base: string;
}

/** Starts `node <script>` with `env`, resolving once it prints `listening <port>`. */
export function startHubProcess(script: string, env: Record<string, string>): Promise<HubProcess> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, SSE_PUBLISH_KEY: PUBLISH_KEY, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<HubProcess>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (data: Buffer) => {
      out += data.toString();
      const match = /listening (\d+)/.exec(out);
      if (match) {
        const port = Number(match[1]);
        resolve({ port, child, base: `http://127.0.0.1:${port}/api/v1/sse` });
      }
    });
    child.on('exit', (code) => reject(new Error(`hub process exited with ${code}`)));
  });
}

/**
 * Starts `count` hub processes of the bundled test fixture on one Redis and one fresh key prefix
 * (named after `name`), as `node0`, `node1`, ...; `env` adds to every one.
 */
export async function startHubProcesses(
  count: number,
  name: string,
  redisUrl: string,
  env: Record<string, string> = {},
): Promise<HubProcess[]> {
  const script = await bundle('test/fixtures/node-server.ts');
  const prefix = uniquePrefix(name);
  const processes: HubProcess[] = [];
  for (let n = 0; n < count; n++) {
    processes.push(
      await startHubProcess(script, {
        REDIS_URL: redisUrl,
        SSEHUB_PREFIX: prefix,
        NODE_ID: `node${n}`,
        ...env,
      }),
    );
  }
  return processes;
}

/** Ends the processes that are still running, and waits for them. */
export async function stopHubProcesses(processes: readonly HubProcess[]): Promise<void> {
  await Promise.all(
    processes.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 2_000).unref();
        }),
    ),
  );
}

/** The publisher key the test processes and apps are started with (`SSE_PUBLISH_KEY`). */
export const PUBLISH_KEY = 'test-publish-key';

/** Headers of an admin call: JSON, and the publisher key. */
export function adminHeaders(): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${PUBLISH_KEY}` };
}

/** POSTs a send to a node's publish route and returns the answer, whatever it is. */
export function post(base: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${base}/publish`, {
    method: 'POST',
    headers: adminHeaders(),
    body: JSON.stringify(body),
  });
}

/** GETs an admin route (`info`, `metrics`) of a node. */
export function admin(base: string, route: 'info' | 'metrics'): Promise<Response> {
  return fetch(`${base}/${route}`, { headers: adminHeaders() });
}

/** POSTs a send to a node's publish route; anything but 2xx throws. */
export async function publish(base: string, body: Record<string, unknown>): Promise<void> {
  const response = await post(base, body);
  if (!response.ok) throw new Error(`publish failed: ${response.status} ${await response.text()}`);
}
