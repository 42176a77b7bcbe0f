/**
 * Runs the Worker on real workerd, locally, through miniflare's API: bundles src/worker.ts with
 * esbuild, then starts workerd with the `HUB` Durable Object binding, the `SSE_*` variables as
 * plain-text vars, and the object's storage on disk. Shared by `pnpm start` (scripts/start.mjs)
 * and the tests. Nothing here reaches the network: `cf: false` keeps miniflare from fetching
 * its `request.cf` data, and telemetry is off.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { Log, LogLevel, Miniflare } from 'miniflare';

const app = dirname(dirname(fileURLToPath(import.meta.url)));
/** The compatibility date the Worker is written against (wrangler.toml says the same). */
export const COMPATIBILITY_DATE = '2025-09-01';
/**
 * `enable_request_signal`: `request.signal` aborts when the client goes away (the fetch adapter
 * listens to it); `request_signal_passthrough`: the Worker's signal reaches the object's request.
 */
export const COMPATIBILITY_FLAGS = ['enable_request_signal', 'request_signal_passthrough'];

/** Bundles the Worker (and the workspace packages it imports) into one ES module, in memory. */
export async function bundleWorker() {
  const outfile = join(app, 'dist', 'worker.js');
  const result = await build({
    entryPoints: [join(app, 'src', 'worker.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'import'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    logLevel: 'warning',
    write: false,
  });
  return { path: outfile, text: result.outputFiles[0].text };
}

/**
 * The `SSE_*` variables of `env`, checked as the object will read them (src/settings.ts, bundled
 * and loaded here): throws a RangeError naming a malformed or unusable one.
 */
export async function sseVariables(env) {
  const vars = {};
  for (const [key, value] of Object.entries(env))
    if (key.startsWith('SSE_') && value !== undefined) vars[key] = value;
  const folder = mkdtempSync(join(tmpdir(), 'ssehub-workers-settings-'));
  try {
    const outfile = join(folder, 'settings.mjs');
    await build({
      entryPoints: [join(app, 'src', 'settings.ts')],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      logLevel: 'warning',
    });
    const { settings } = await import(pathToFileURL(outfile).href);
    settings(vars);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  return vars;
}

/**
 * Starts workerd with the Worker. `persistTo`: the folder of the object's storage (kept across
 * restarts); without it, a temporary folder removed by `dispose()`.
 *
 * @param {{ port?: number, vars?: Record<string, string>, persistTo?: string, bundle?: { path: string, text: string } }} options
 */
export async function startWorker({ port = 0, vars = {}, persistTo, bundle } = {}) {
  const { path, text } = bundle ?? (await bundleWorker());
  const temporary =
    persistTo === undefined ? mkdtempSync(join(tmpdir(), 'ssehub-workers-')) : undefined;
  const mf = new Miniflare({
    modules: true,
    script: text,
    scriptPath: path,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    // SQLite-backed, as `new_sqlite_classes` in wrangler.toml (the storage API is the same).
    durableObjects: { HUB: { className: 'HubObject', useSQLite: true } },
    durableObjectsPersist: persistTo ?? temporary,
    bindings: vars,
    host: '127.0.0.1',
    port,
    cf: false,
    telemetry: { enabled: false },
    log: new Log(LogLevel.WARN),
  });
  const url = await mf.ready;
  return {
    mf,
    origin: `http://127.0.0.1:${url.port}`,
    /** The hub object's RPC stub (`shutdown()`, `restart()`). */
    async hubObject() {
      const namespace = await mf.getDurableObjectNamespace('HUB');
      return namespace.get(namespace.idFromName(vars.SSE_OBJECT_NAME ?? 'hub'));
    },
    async dispose() {
      await mf.dispose();
      if (temporary !== undefined) rmSync(temporary, { recursive: true, force: true });
    },
  };
}
