/**
 * Server processes for the suite: the example apps (apps/node, express, koa, h3) and apps/demo
 * exactly as users start them, and
 * `fixtures/hub-server.ts` when a test needs the hub's internals over IPC. Every child is killed
 * when the test process exits, whatever happened.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FixtureReply, FixtureRequest, ServerStats } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const ROOT = resolve(here, '../../../..');
export const PACKAGE_DIR = resolve(here, '../..');
const FIXTURE = resolve(here, '../fixtures/hub-server.ts');
/** tsx's loader from this package, so apps without tsx of their own run too. */
const TSX = pathToFileURL(
  resolve(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
).href;

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A server process listening on 127.0.0.1. */
export interface ServerProcess {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed. */
  output(): string;
  /** Resolves with how it exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal; resolves with the exit. */
  signal(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL unless it already exited. */
  kill(): Promise<void>;
  /** IPC to `fixtures/hub-server.ts` (not available for the apps). */
  request<T = unknown>(request: FixtureRequest, timeoutMs?: number): Promise<T>;
  stats(): Promise<ServerStats>;
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  /** Extra node flags (e.g. `--expose-gc`). */
  readonly nodeFlags?: readonly string[];
  /**
   * The kernel send buffer of every accepted socket (SO_SNDBUF on the listening socket, which
   * accepted sockets inherit). Node cannot set it, so a small Perl launcher creates the listening
   * socket and hands it to the fixture as `LISTEN_FD`. Fixture only.
   */
  readonly sendBufferBytes?: number;
  readonly startTimeoutMs?: number;
}

const LAUNCHER = `
use Socket; $^F = 255;
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
setsockopt($s, SOL_SOCKET, SO_SNDBUF, pack("i", $ENV{SO_SNDBUF})) or die "SO_SNDBUF: $!";
bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
listen($s, 4096) or die "listen: $!";
$ENV{LISTEN_FD} = fileno($s);
exec { $ARGV[0] } @ARGV or die "exec: $!";
`;

/**
 * The publisher key every fixture and app is started with (`SSE_PUBLISH_KEY`; the admin routes
 * are closed without one) unless `env` sets its own, and the header that carries it.
 */
export const ADMIN_KEY = 'reliability-publisher-key';
export const ADMIN = { Authorization: `Bearer ${ADMIN_KEY}` } as const;

/** `fixtures/hub-server.ts` with `SSE_*` from `env`. */
export function startFixture(options: StartOptions = {}): Promise<ServerProcess> {
  const node = [process.execPath, ...(options.nodeFlags ?? []), '--import', TSX, FIXTURE] as const;
  const env: Record<string, string> = { SSE_PUBLISH_KEY: ADMIN_KEY, ...options.env };
  if (options.sendBufferBytes !== undefined) {
    env.SO_SNDBUF = String(options.sendBufferBytes);
    return launch('perl', ['-e', LAUNCHER, ...node], PACKAGE_DIR, env, true, options);
  }
  return launch(node[0], node.slice(1), PACKAGE_DIR, env, true, options);
}

/** The example apps that run on Node, and the demo. */
export type NodeApp = 'node' | 'express' | 'koa' | 'h3' | 'demo';

/** An app of `apps/` started as its README says (`node --import tsx src/main.ts`). */
export function startApp(app: NodeApp, options: StartOptions = {}): Promise<ServerProcess> {
  const dir = resolve(ROOT, 'apps', app);
  const entry = app === 'demo' ? 'src/server.ts' : 'src/main.ts';
  return launch(
    process.execPath,
    [...(options.nodeFlags ?? []), '--import', TSX, entry],
    dir,
    { PORT: '0', SSE_PUBLISH_KEY: ADMIN_KEY, ...options.env },
    false,
    options,
  );
}

/** Whether `apps/demo` exists in this checkout (it is written alongside this suite). */
export function demoAvailable(): boolean {
  return existsSync(resolve(ROOT, 'apps/demo/src/server.ts'));
}

function launch(
  command: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string>,
  ipc: boolean,
  options: StartOptions,
): Promise<ServerProcess> {
  // A REDIS_URL of the environment (CI sets one for @ssehub/redis) would turn the fixture and
  // apps/demo into cluster nodes sharing one Redis: only the test that wants it passes one.
  const { REDIS_URL: _inherited, ...inherited } = process.env;
  const child = spawn(command, args, {
    cwd,
    env: { ...inherited, NODE_ENV: 'production', ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    }),
  );
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (reply: FixtureReply) => {
    const waiter = pending.get(reply.seq);
    if (waiter === undefined) return;
    pending.delete(reply.seq);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new Error(reply.error));
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error('the server exited'));
    pending.clear();
  });

  return new Promise((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectStart(new Error(`${command} did not start in time:\n${output}`));
    }, options.startTimeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match =
        /listening (\d+)|listening on http:\/\/127\.0\.0\.1:(\d+)|demo: http:\/\/127\.0\.0\.1:(\d+)/.exec(
          output,
        );
      if (match === null) return;
      child.stdout?.off('data', onData);
      child.stdout?.on('data', (more: Buffer) => {
        output += more.toString();
      });
      clearTimeout(timer);
      const port = Number(match[1] ?? match[2] ?? match[3]);
      const server: ServerProcess = {
        port,
        url: `http://127.0.0.1:${port}`,
        child,
        output: () => output,
        exited,
        signal(signal) {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
        request<T>(request: FixtureRequest, timeoutMs = 60_000): Promise<T> {
          if (!ipc) return Promise.reject(new Error('no IPC to this server'));
          return new Promise<T>((resolve, reject) => {
            const id = ++seq;
            const timeout = setTimeout(() => {
              pending.delete(id);
              reject(new Error(`IPC ${request.cmd} timed out`));
            }, timeoutMs);
            pending.set(id, {
              resolve: (v) => {
                clearTimeout(timeout);
                resolve(v as T);
              },
              reject: (e) => {
                clearTimeout(timeout);
                reject(e);
              },
            });
            child.send({ seq: id, request });
          });
        },
        stats() {
          return this.request<ServerStats>({ cmd: 'stats' });
        },
      };
      resolveStart(server);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rejectStart(new Error(`${command} exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}
