import { defineConfig } from 'tsup';

// Node scripts import their npm packages at run time; the Bun/Deno server scripts are bundled
// whole so those runtimes need no module resolution of their own.
export default defineConfig([
  {
    entry: {
      main: 'src/main.ts',
      'write-cost': 'src/write-cost.ts',
      'loadgen/worker': 'src/loadgen/worker.ts',
      'servers/raw-node': 'src/servers/raw-node.ts',
      'servers/better-sse': 'src/servers/better-sse.ts',
      'servers/h3': 'src/servers/h3.ts',
      'servers/hono': 'src/servers/hono.ts',
      'servers/ssehub-node': 'src/servers/ssehub-node.ts',
      'servers/ssehub-node-h2': 'src/servers/ssehub-node-h2.ts',
      'servers/ssehub-fetch-node': 'src/servers/ssehub-fetch-node.ts',
      'servers/ssehub-fastify': 'src/servers/ssehub-fastify.ts',
      'servers/ssehub-hono': 'src/servers/ssehub-hono.ts',
      'storm/main': 'src/storm/main.ts',
      'storm/server': 'src/storm/server.ts',
    },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    // CommonJS packages that `require()` Node's modules cannot be bundled into ESM (fastify), and
    // ioredis with its dynamic requires (the storm scenario): load them at run time.
    external: ['fastify', 'fastify-plugin', '@ssehub/fastify', 'ioredis', '@ssehub/redis'],
    clean: false,
    splitting: false,
  },
  {
    entry: {
      'servers/raw-fetch': 'src/servers/raw-fetch.ts',
      'servers/ssehub-fetch': 'src/servers/ssehub-fetch.ts',
    },
    format: ['esm'],
    platform: 'neutral',
    target: 'es2022',
    noExternal: [/.*/],
    splitting: false,
  },
]);
