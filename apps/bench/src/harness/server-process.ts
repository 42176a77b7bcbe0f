/** Starts one server under test as a child process and talks to its `/bench/*` control API. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { MemoryStats } from '../servers/control.js';

export interface ServerProcess {
  port: number;
  /** Where the streams are served (HTTP/2 rows: their own server); `port` otherwise. */
  streamPort: number;
  child: ChildProcess;
  /** Last lines the server wrote to stderr (for failure messages). */
  stderr(): string;
  call<T>(path: string, params?: Record<string, number | string>): Promise<T>;
  stats(): Promise<{ clients: number; memory: MemoryStats }>;
  stop(): Promise<void>;
}

/** Every server process still running, for `killServers` on an interrupted run. */
const live = new Set<ChildProcess>();

/** Kills every server still running (SIGINT/SIGTERM of the harness). */
export function killServers(): void {
  for (const child of live) child.kill('SIGKILL');
}

export async function startServer(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  const child = spawn(command, args, {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderrTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderrTail = (stderrTail + s).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout! });
  let streamPort: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening: ${stderrTail.trim()}`));
    });
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { port?: number; streamPort?: number };
        if (typeof msg.port === 'number') {
          clearTimeout(timer);
          streamPort = msg.streamPort;
          resolve(msg.port);
        }
      } catch {
        // Not ours: a library log line.
      }
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async <T>(p: string, params: Record<string, number | string> = {}): Promise<T> => {
    const query = new URLSearchParams(
      Object.entries(params).map(([k, v]) => [k, String(v)]),
    ).toString();
    const res = await fetch(`${base}${p}${query ? `?${query}` : ''}`, {
      method: p === '/bench/stats' || p === '/bench/clients' || p === '/bench/cpu' ? 'GET' : 'POST',
      signal: AbortSignal.timeout(120_000),
    });
    if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    port,
    streamPort: streamPort ?? port,
    child,
    stderr: () => stderrTail,
    call,
    stats: () => call('/bench/stats'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
