import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

// Bun.serve closes a connection after `idleTimeout` seconds without traffic (default 10). A hub
// whose heartbeat is shorter keeps a stream open with the default; see README, "Bun".
const packageDir = fileURLToPath(new URL('..', import.meta.url));
// The binary itself: node_modules/.bin/bun is a shell shim that would outlive a kill.
const bun = join(
  dirname(createRequire(import.meta.url).resolve('bun/package.json')),
  'bin/bun.exe',
);
let child: ChildProcess;
let origin: string;

beforeAll(async () => {
  child = spawn(bun, ['src/fixtures/bun-server.ts'], {
    cwd: packageDir,
    env: { ...process.env, SSE_HEARTBEAT_MS: '5000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  origin = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bun exited with ${code}`)));
    let out = '';
    child.stdout!.on('data', (data) => {
      out += String(data);
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
  });
}, 20_000);

afterAll(async () => {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill();
  await exited;
});

it('keeps a stream open past Bun’s default 10 s idleTimeout with heartbeatMs 5 000', async () => {
  const response = await fetch(`${origin}/api/v1/sse/stream/g/u`);
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const started = Date.now();
  let text = '';
  while (Date.now() - started < 12_500) {
    const { done, value } = await reader.read();
    expect(done, `the stream ended after ${Date.now() - started} ms`).toBe(false);
    text += decoder.decode(value, { stream: true });
  }
  expect(text).toContain('event: connected');
  expect(text.split(':\n\n').length - 1).toBeGreaterThanOrEqual(2);
  await reader.cancel();
}, 25_000);
