/**
 * Debian's Chromium for the browser clients of ssehub's tests (the conformance suite's
 * `disconnect-chromium` check and the demo's page tests): its path, installed with apt-get when
 * missing as on a fresh CI machine, and the flags for running it headless in a container.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
  console.error('ssehub tests: installing Chromium from Debian packages (apt-get)...');
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
  console.error(`\n${line}\n!! SKIPPING THE CHROMIUM TESTS: ${message}\n${line}\n`);
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
