/**
 * The servers under test. Each is one script in `src/servers/`, built to `dist/servers/`, started
 * as its own process. Adding a server is one script plus one entry here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type Runtime = 'node' | 'bun' | 'deno';

export interface ServerSpec {
  /** Short name used by `--only` and in tables. */
  name: string;
  /** What it is, for the report. */
  label: string;
  runtime: Runtime;
  /** Script under `dist/servers/`, without extension. */
  script: string;
  /** npm packages whose versions the report prints. */
  packages: string[];
  /** Stream endpoint; clients add `?group=g<n>&id=c<n>` (default `/sse`). */
  streamPath?: string;
  /**
   * `h2`: the clients are HTTP/2 streams (h2c), `STREAMS_PER_CONNECTION` on each connection, on
   * the server's `streamPort`. Default: one HTTP/1.1 connection per client.
   */
  protocol?: 'h2';
  /**
   * Servers of one family run at once and take turns (see `turns`): a floor and the ssehub rows
   * the targets compare with it. A server without one (the other libraries, compared by wide
   * margins) runs alone. Families and lone servers run one after another.
   */
  family?: 'node' | 'bun' | 'deno';
}

/** Streams per HTTP/2 connection in the `h2` rows: 10 000 clients over 200 connections. */
export const STREAMS_PER_CONNECTION = 50;

/** ssehub's reference stream route under its default base. */
const SSEHUB_STREAM = '/api/v1/sse/stream';

export const SERVERS: ServerSpec[] = [
  {
    name: 'raw-node',
    family: 'node',
    label: 'raw node:http, one Buffer to every response (floor)',
    runtime: 'node',
    script: 'raw-node',
    packages: [],
  },
  {
    name: 'ssehub-node',
    family: 'node',
    label: 'ssehub: Hub + @ssehub/node sseHandler on node:http',
    runtime: 'node',
    script: 'ssehub-node',
    packages: ['@ssehub/core', '@ssehub/node'],
    streamPath: SSEHUB_STREAM,
  },
  {
    name: 'ssehub-node-h2',
    family: 'node',
    label: 'ssehub: Hub + @ssehub/node sseHandler on node:http2 (h2c, 50 streams per connection)',
    runtime: 'node',
    script: 'ssehub-node-h2',
    packages: ['@ssehub/core', '@ssehub/node'],
    streamPath: SSEHUB_STREAM,
    protocol: 'h2',
  },
  {
    name: 'ssehub-fetch-node',
    label: 'ssehub: Hub + @ssehub/fetch sseHandler on @hono/node-server',
    runtime: 'node',
    script: 'ssehub-fetch-node',
    packages: ['@ssehub/core', '@ssehub/fetch', '@hono/node-server'],
    streamPath: SSEHUB_STREAM,
  },
  {
    name: 'ssehub-fastify',
    family: 'node',
    label: 'ssehub: Hub + @ssehub/fastify plugin on Fastify 5',
    runtime: 'node',
    script: 'ssehub-fastify',
    packages: ['@ssehub/core', '@ssehub/fastify', 'fastify'],
    streamPath: SSEHUB_STREAM,
  },
  {
    name: 'ssehub-hono',
    family: 'node',
    label: 'ssehub: Hub + @ssehub/hono middleware on Hono (@hono/node-server)',
    runtime: 'node',
    script: 'ssehub-hono',
    packages: ['@ssehub/core', '@ssehub/hono', 'hono', '@hono/node-server'],
    streamPath: SSEHUB_STREAM,
  },
  {
    name: 'better-sse',
    label: 'better-sse channel broadcast',
    runtime: 'node',
    script: 'better-sse',
    packages: ['better-sse'],
  },
  {
    name: 'h3',
    label: 'h3 v2 EventStream (toNodeHandler)',
    runtime: 'node',
    script: 'h3',
    packages: ['h3'],
  },
  {
    name: 'hono',
    label: 'Hono streamSSE on @hono/node-server',
    runtime: 'node',
    script: 'hono',
    packages: ['hono', '@hono/node-server'],
  },
  {
    name: 'bun-raw',
    family: 'bun',
    label: 'Bun.serve, raw ReadableStream (Bun floor)',
    runtime: 'bun',
    script: 'raw-fetch',
    packages: [],
  },
  {
    name: 'bun-ssehub',
    family: 'bun',
    label: 'ssehub: Hub + @ssehub/fetch sseHandler on Bun.serve',
    runtime: 'bun',
    script: 'ssehub-fetch',
    packages: ['@ssehub/core', '@ssehub/fetch'],
    streamPath: SSEHUB_STREAM,
  },
  {
    name: 'deno-raw',
    family: 'deno',
    label: 'Deno.serve, raw ReadableStream (Deno floor)',
    runtime: 'deno',
    script: 'raw-fetch',
    packages: [],
  },
  {
    name: 'deno-ssehub',
    family: 'deno',
    label: 'ssehub: Hub + @ssehub/fetch sseHandler on Deno.serve',
    runtime: 'deno',
    script: 'ssehub-fetch',
    packages: ['@ssehub/core', '@ssehub/fetch'],
    streamPath: SSEHUB_STREAM,
  },
];

const require = createRequire(import.meta.url);

function packageDir(name: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** Version of a package installed for this app (read from node_modules, exports aside), or `?`. */
export function packageVersion(name: string, appDir: string): string {
  try {
    const file = path.join(appDir, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** Executable for a runtime: this Node, or the `bun`/`deno` binaries installed from npm. */
export function runtimeBinary(runtime: Runtime): string | undefined {
  if (runtime === 'node') return process.execPath;
  const dir = packageDir(runtime);
  const candidates = dir
    ? runtime === 'bun'
      ? [path.join(dir, 'bin', 'bun.exe'), path.join(dir, 'bin', 'bun')]
      : [path.join(dir, 'deno'), path.join(dir, 'bin', 'deno')]
    : [];
  return candidates.find((file) => existsSync(file));
}

/** Command line that runs `scriptFile` on `runtime`, with GC exposed for memory readings. */
export function runtimeArgs(runtime: Runtime, scriptFile: string, profileDir?: string): string[] {
  switch (runtime) {
    case 'node':
      return [
        '--expose-gc',
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        scriptFile,
      ];
    case 'bun':
      return ['run', scriptFile];
    case 'deno':
      return ['run', '--allow-all', '--quiet', '--v8-flags=--expose-gc', scriptFile];
  }
}
