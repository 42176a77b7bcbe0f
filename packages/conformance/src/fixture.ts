/**
 * Fixtures: the example apps the suite runs, how they are found and how they are started.
 *
 * An app takes part by declaring, in its package.json, a field `ssehubConformance`: a list of
 * entries, one per runtime it runs on (see README.md). The suite starts each entry's `command`
 * in the app's folder, as its own process, with `PORT` and the `SSE_*` variables a test group
 * needs, and waits for the line `listening on http://127.0.0.1:<port>` on stdout.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testCertificate } from './certificate.js';

// ---------------------------------------------------------------- types

/** The runtimes a fixture can run on. */
export type Runtime = 'node' | 'bun' | 'deno';

/**
 * The checks of the suite, by name. A fixture lists in `skip` the ones its runtime or framework
 * cannot pass (say why in the app's README); every other check must pass.
 */
export const CHECKS = [
  'headers',
  'connected',
  'routing',
  'presence',
  'encoding',
  'heartbeat',
  'replay',
  'replay-burst',
  'reset',
  'disconnect-eventsource',
  'disconnect-undici',
  'disconnect-chromium',
  'info-metrics',
  'client-abort',
  'slow-disconnect',
  'slow-drop-oldest',
  'stalled',
  'auth',
  'publisher-key',
  'token-expiry',
  'cors',
  'errors',
  'json-only',
  'head-options',
  'closed-defaults',
  'per-ip-limit',
  'quiet-stream',
  'shutdown',
  'http2',
  'proxy-timeout',
] as const;

export type Check = (typeof CHECKS)[number];

/** One entry of an app's `ssehubConformance` list. */
export interface FixtureEntry {
  /** Shown in the test names, e.g. `express`, `h3 on bun`. Unique across apps. */
  readonly name: string;
  readonly runtime: Runtime;
  /**
   * The command, run in the app's folder. Its first word `node`, `bun` or `deno` is replaced by
   * the suite's own binary for that runtime (node: the one running the suite; bun and deno: the
   * suite's npm devDependencies), so no global install is needed.
   */
  readonly command: readonly string[];
  /** Checks this fixture is known not to pass (names from `CHECKS`). */
  readonly skip?: readonly Check[];
  /** Extra environment for every start. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * `true`: the suite picks a free port and passes it as `PORT`. Default: `PORT=0` and the app
   * prints the port it got.
   */
  readonly freePort?: boolean;
  /** Milliseconds to wait for the `listening on` line (default 30 000). */
  readonly startTimeoutMs?: number;
  /**
   * `true`: the app serves HTTPS with HTTP/2. The suite makes a self-signed certificate for
   * 127.0.0.1 (openssl), passes its PEM files as `TLS_CERT` and `TLS_KEY`, waits for
   * `listening on https://...`, and its clients speak HTTP/2. The `http2` check runs only here.
   */
  readonly tls?: boolean;
  /**
   * For an app behind a reverse proxy: the `proxy-timeout` check (which runs only where this is
   * set) starts it with `PROXY_READ_TIMEOUT_MS` set to this, and the proxy must then cut a
   * stream after that many ms without a byte from the app (nginx's `proxy_read_timeout`); the
   * check holds a stream across it on the heartbeat alone.
   */
  readonly proxyReadTimeoutMs?: number;
}

/** A fixture: an entry and the app it belongs to. */
export interface Fixture extends FixtureEntry {
  /** The app's package name. */
  readonly app: string;
  /** The app's folder: the command's working directory. */
  readonly cwd: string;
}

/** A started fixture. */
export interface RunningFixture {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly process: ChildProcess;
  /** Everything the process printed, for failure messages. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string | null>;
  /**
   * SIGTERM to the fixture's process group, then SIGKILL after `graceMs` (0: SIGKILL at once);
   * resolves once the process is gone.
   */
  stop(graceMs?: number): Promise<void>;
}

// ---------------------------------------------------------------- discovery

/** The monorepo root (two levels above this package). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Reads every `apps/*\/package.json` with an `ssehubConformance` field. */
export function discoverFixtures(root: string = repoRoot): Fixture[] {
  const appsDir = join(root, 'apps');
  const fixtures: Fixture[] = [];
  const names = new Set<string>();
  for (const dir of readdirSync(appsDir, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    const cwd = join(appsDir, dir.name);
    const manifestPath = join(cwd, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      name?: string;
      ssehubConformance?: unknown;
    };
    if (manifest.ssehubConformance === undefined) continue;
    const entries = manifest.ssehubConformance;
    if (!Array.isArray(entries))
      throw new Error(`${manifestPath}: ssehubConformance must be a list`);
    for (const entry of entries as FixtureEntry[]) {
      validate(entry, manifestPath);
      if (names.has(entry.name))
        throw new Error(`${manifestPath}: duplicate fixture ${entry.name}`);
      names.add(entry.name);
      fixtures.push({ ...entry, app: manifest.name ?? dir.name, cwd });
    }
  }
  return fixtures.sort((a, b) => a.name.localeCompare(b.name));
}

function validate(entry: FixtureEntry, where: string): void {
  const fail = (why: string) => {
    throw new Error(`${where}: ssehubConformance entry ${JSON.stringify(entry)}: ${why}`);
  };
  if (typeof entry?.name !== 'string' || entry.name === '') fail('"name" must be a string');
  if (!['node', 'bun', 'deno'].includes(entry.runtime)) fail('"runtime" must be node, bun or deno');
  if (!Array.isArray(entry.command) || entry.command.length === 0) fail('"command" is empty');
  if (entry.tls !== undefined && typeof entry.tls !== 'boolean') fail('"tls" must be a boolean');
  for (const check of entry.skip ?? []) {
    if (!(CHECKS as readonly string[]).includes(check))
      fail(`unknown check "${check}" in "skip" (known: ${CHECKS.join(', ')})`);
  }
}

// ---------------------------------------------------------------- runtimes

const require = createRequire(import.meta.url);

/** Where a runtime's binary is, or why it cannot be used here. */
export type RuntimeBinary =
  | { readonly ok: true; readonly path: string; readonly version: string }
  | { readonly ok: false; readonly reason: string };

const binaries = new Map<Runtime, RuntimeBinary>();

/** Finds the runtime's binary (node: this one; bun and deno: the npm devDependencies) and runs it once. */
export function runtimeBinary(runtime: Runtime): RuntimeBinary {
  let found = binaries.get(runtime);
  if (found === undefined) binaries.set(runtime, (found = probe(runtime)));
  return found;
}

function probe(runtime: Runtime): RuntimeBinary {
  let path: string;
  if (runtime === 'node') path = process.execPath;
  else {
    let dir: string;
    try {
      dir = dirname(require.resolve(`${runtime}/package.json`));
    } catch {
      return { ok: false, reason: `the npm package "${runtime}" is not installed` };
    }
    // bun's package puts the real binary at bin/bun.exe (postinstall); deno's at ./deno.
    path = runtime === 'bun' ? join(dir, 'bin', 'bun.exe') : join(dir, 'deno');
    if (!existsSync(path)) return { ok: false, reason: `no ${runtime} binary at ${path}` };
  }
  const result = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (result.error || result.status !== 0) {
    const why = result.error?.message ?? (result.stderr || `exit ${result.status}`);
    return { ok: false, reason: `${runtime} --version failed: ${why.trim().split('\n')[0]}` };
  }
  return { ok: true, path, version: result.stdout.trim().split('\n')[0] ?? '' };
}

// ---------------------------------------------------------------- builds

/** The ESM entry a workspace package's importers load, if it has a build step. */
function builtEntry(dir: string): string | undefined {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
    // biome-ignore lint/suspicious/noExplicitAny: the exports map is read loosely.
    exports?: any;
    module?: string;
    main?: string;
  };
  if (!manifest.scripts?.build) return undefined;
  const root = manifest.exports?.['.'] ?? manifest.exports;
  const entry: unknown =
    root?.import?.default ?? root?.import ?? root?.default ?? manifest.module ?? manifest.main;
  return typeof entry === 'string' ? join(dir, entry) : undefined;
}

const builds = new Map<string, Promise<void>>();

/**
 * Waits until the workspace packages an app depends on are built. Under `turbo run test` they
 * are, if this package devDepends on them; otherwise turbo may still be building them in
 * parallel, and this waits (up to `timeoutMs`) instead of starting an app that cannot load.
 */
export function waitForBuilds(
  fixture: Fixture,
  // Under turbo (TURBO_HASH is set) a build may be running beside this task: wait for it.
  // Run directly, nothing is building: say so at once.
  timeoutMs = process.env.TURBO_HASH ? 180_000 : 2_000,
): Promise<void> {
  let pending = builds.get(fixture.cwd);
  if (pending === undefined) {
    pending = (async () => {
      const manifest = JSON.parse(readFileSync(join(fixture.cwd, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      const workspace = Object.entries({ ...manifest.devDependencies, ...manifest.dependencies })
        .filter(([, spec]) => spec.startsWith('workspace:'))
        .map(([name]) => name);
      const entries: string[] = [];
      for (const name of workspace) {
        // pnpm links workspace dependencies into the app's own node_modules.
        const dir = join(fixture.cwd, 'node_modules', name);
        if (!existsSync(join(dir, 'package.json'))) continue;
        const entry = builtEntry(dir);
        if (entry !== undefined) entries.push(entry);
      }
      const deadline = Date.now() + timeoutMs;
      for (const entry of entries) {
        while (!existsSync(entry)) {
          if (Date.now() > deadline) {
            throw new Error(
              `${fixture.name}: ${entry} is not built. Run \`pnpm build\` first; under turbo, ` +
                'add the package to the devDependencies of @ssehub/conformance.',
            );
          }
          await new Promise((done) => setTimeout(done, 250));
        }
      }
    })();
    builds.set(fixture.cwd, pending);
  }
  return pending;
}

// ---------------------------------------------------------------- processes

const running = new Set<ChildProcess>();
process.once('exit', () => {
  // Last resort, if the test process dies before afterAll: never leave a server behind.
  for (const child of running) signalGroup(child, 'SIGKILL');
});

/** Signals the fixture's whole process group, so a wrapper (`sh -c`, a launcher) cannot orphan it. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** Starts a fixture with `env` (on top of the fixture's) and waits until it listens. */
export async function startFixture(
  fixture: Fixture,
  env: Readonly<Record<string, string>> = {},
): Promise<RunningFixture> {
  const binary = runtimeBinary(fixture.runtime);
  if (!binary.ok) throw new Error(binary.reason);
  await waitForBuilds(fixture);
  const [first, ...rest] = fixture.command as [string, ...string[]];
  const command = first === fixture.runtime ? binary.path : first;
  const base: Record<string, string | undefined> = {};
  // The dev shell's SSE_* settings must not leak into a fixture, nor REDIS_URL: it would join
  // every instance to one cluster, and the checks count deliveries per instance.
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('SSE_') && key !== 'REDIS_URL') base[key] = value;
  const port = fixture.freePort ? String(await freePort()) : '0';
  const child = spawn(command, rest, {
    cwd: fixture.cwd,
    env: {
      ...base,
      NO_COLOR: '1',
      ...(fixture.tls ? testCertificate() : {}),
      ...fixture.env,
      ...env,
      PORT: port,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: stop() signals everything the command started.
    detached: true,
  });
  running.add(child);
  let output = '';
  const exited = new Promise<number | string | null>((done) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      done(code ?? signal);
    });
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const origin = await new Promise<string>((done, fail) => {
    const timeoutMs = fixture.startTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      signalGroup(child, 'SIGKILL');
      fail(new Error(`${fixture.name}: no "listening on" line within ${timeoutMs} ms\n${output}`));
    }, timeoutMs);
    let line = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      line += chunk;
      const match = /listening on (https?:\/\/[^\s/]+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        done(match[1]!.replace('localhost', '127.0.0.1'));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`${fixture.name}: exited (${code}) before listening\n${output}`));
    });
  });
  return {
    origin,
    process: child,
    output: () => output,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Whatever the command left behind in its group.
      signalGroup(child, 'SIGKILL');
    },
  };
}
