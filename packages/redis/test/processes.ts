import { type ChildProcess, spawn } from 'node:child_process';

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
    env: { ...process.env, ...env },
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

/** POSTs a send to a node's publish route. */
export async function publish(base: string, body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${base}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`publish failed: ${response.status} ${await response.text()}`);
}
