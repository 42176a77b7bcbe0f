/**
 * Starts the demo: `PORT` (default 3000; 0 picks a free one), `HOST` (default 127.0.0.1), the
 * `SSE_*` variables every ssehub app reads (`SSE_SECRET`, `SSE_PUBLISH_KEY`, ...), and `REDIS_URL`
 * to join a cluster of hubs instead of running in memory.
 */
import { createDemo } from './demo.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`ssehub demo: PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(1);
}

let demo: ReturnType<typeof createDemo>;
try {
  demo = createDemo({ env: process.env });
} catch (error) {
  console.error(`ssehub demo: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}

demo.server.on('error', (error: NodeJS.ErrnoException) => {
  console.error(
    error.code === 'EADDRINUSE'
      ? `ssehub demo: port ${port} is in use; start it with another, e.g. PORT=3001`
      : `ssehub demo: ${error.message}`,
  );
  process.exit(1);
});

if (process.env.REDIS_URL) console.log('ssehub demo: joining the Redis cluster at REDIS_URL...');
await demo.ready;

demo.server.listen(port, host, () => {
  const address = demo.server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const notes = [
    process.env.SSE_SECRET ? 'stream tokens on (SSE_SECRET)' : '',
    process.env.SSE_PUBLISH_KEY ? 'publisher key on (SSE_PUBLISH_KEY)' : '',
    process.env.REDIS_URL ? 'Redis cluster (REDIS_URL)' : '',
  ].filter(Boolean);
  console.log(
    `ssehub demo: http://${shown.includes(':') ? `[${shown}]` : shown}:${actual}${notes.length ? `  (${notes.join(', ')})` : ''}`,
  );
});

// Ending the streams on shutdown makes browsers reconnect (to this server once it is back).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
