/**
 * What the demo's tests share: the demo server as a child process, and Debian's Chromium
 * (installed with apt-get when missing, as on a fresh CI machine).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A running demo server. */
export interface DemoProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed. */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `dist/server.js` (built by turbo before the tests) on a free port. */
export function startDemo(env: Record<string, string> = {}): Promise<DemoProcess> {
  const server = join(APP_DIR, 'dist', 'server.js');
  if (!existsSync(server)) {
    throw new Error(`${server} is missing: run the tests through turbo, or build first (tsup).`);
  }
  const child = spawn(process.execPath, [server], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`The demo did not start:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /ssehub demo: (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1]!,
          child,
          output: () => output,
          stop: () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The demo exited with ${code}:\n${output}`));
    });
  });
}

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * The path of Debian's Chromium. When it is missing and this is a Debian-like machine where we
 * are root (CI), installs it with `apt-get install chromium`. `undefined` (with a loud message)
 * only when that is impossible or fails.
 */
export function ensureChromium(): string | undefined {
  const configured = process.env.SSEHUB_CHROMIUM;
  if (configured) return configured;
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found) return found;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    warn('no Chromium at /usr/bin/chromium and cannot apt-get install it (needs root on Debian).');
    return undefined;
  }
  console.error('ssehub demo tests: installing Chromium from Debian packages (apt-get)...');
  try {
    const options = {
      stdio: ['ignore', 'ignore', 'inherit'] as ('ignore' | 'inherit')[],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 15 * 60_000,
    };
    execFileSync('apt-get', ['update'], options);
    execFileSync('apt-get', ['install', '-y', 'chromium'], options);
  } catch (error) {
    warn(`apt-get install chromium failed: ${error instanceof Error ? error.message : error}`);
    return undefined;
  }
  const installed = CANDIDATES.find((path) => existsSync(path));
  if (!installed) warn('apt-get finished but /usr/bin/chromium is still missing.');
  return installed;
}

function warn(message: string): void {
  const line = '!'.repeat(78);
  console.error(`\n${line}\n!! SKIPPING THE BROWSER TESTS: ${message}\n${line}\n`);
}

/** Flags for headless Chromium in a container, without anything that phones home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
