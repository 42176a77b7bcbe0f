/**
 * What the demo's tests share: the demo server as a child process, and Debian's Chromium (from
 * the conformance suite's helper: installed with apt-get when missing, as on a fresh CI machine).
 */
import { type ChildProcess, spawn } from 'node:child_process';
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
      const match = /ssehub demo: (https?:\/\/\S+)/.exec(output);
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

export { CHROMIUM_ARGS, ensureChromium } from '@ssehub/conformance/chromium';
