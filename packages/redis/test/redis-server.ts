/**
 * A real Redis for the tests: `REDIS_URL` when set, otherwise a `redis-server` of our own on a
 * free port (the Debian package is installed when missing, so the tests run on a fresh machine).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

/** A redis-server process that a test owns. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** `kill -9`: no shutdown, no goodbye to the clients. */
  kill9(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is saved). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

let binary: string | undefined;

/** The redis-server binary, installing Debian's `redis-server` when it is missing. */
export function redisServerBinary(): string {
  if (binary !== undefined) return binary;
  const find = () => {
    try {
      return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  let path = find();
  if (path === '') {
    const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
    console.warn('redis-server is missing: installing the Debian package redis-server');
    execFileSync(
      'sh',
      ['-c', `${sudo}apt-get update -qq && ${sudo}apt-get install -y -qq redis-server`],
      { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
    );
    path = find();
    if (path === '') throw new Error('redis-server could not be installed');
  }
  binary = path;
  return path;
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(500);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Starts a redis-server on a free port (or `port`), saving nothing, and waits until it answers. */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  const bin = redisServerBinary();
  const chosen = port ?? (await freePort());
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      bin,
      ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    while (!(await ping(chosen))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${chosen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async (signal: NodeJS.Signals) => {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    kill9: () => kill('SIGKILL'),
    restart: launch,
    stop: () => kill('SIGTERM'),
  };
}
