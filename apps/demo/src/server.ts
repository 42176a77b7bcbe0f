/**
 * Starts the demo: `PORT` (default 3000; 0 picks a free one), `HOST` (default 127.0.0.1), the
 * `SSE_*` variables every ssehub app reads (`SSE_SECRET`, `SSE_PUBLISH_KEY`, ...), and `REDIS_URL`
 * to join a cluster of hubs instead of running in memory. `TLS_CERT` and `TLS_KEY` (paths to PEM
 * files) serve HTTPS with HTTP/2 (HTTP/1.1 for older clients): every tab of a browser then shares
 * one connection. Without them, plain HTTP/1.1.
 *
 * `--workers N` (or `DEMO_WORKERS=N`) runs N processes with node:cluster on the same port, one hub
 * each, joined through Redis (`REDIS_URL`, required): the way to use every core. Worker 0 plays
 * the challenge rounds for the whole cluster.
 */
import nodeCluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createDemo } from './demo.js';

const flag = process.argv.indexOf('--workers');
const workers = Number(flag === -1 ? (process.env.DEMO_WORKERS ?? 1) : process.argv[flag + 1]);
if (!Number.isInteger(workers) || workers < 1) {
  console.error('ssehub demo: --workers takes a whole number, e.g. --workers 2');
  process.exit(1);
}
if (workers > 1 && nodeCluster.isPrimary) {
  if (!process.env.REDIS_URL) {
    console.error(
      'ssehub demo: --workers needs REDIS_URL (the hubs of the workers meet there), e.g.\n' +
        '  REDIS_URL=redis://127.0.0.1:6379 pnpm demo --workers 2',
    );
    process.exit(1);
  }
  console.log(`ssehub demo: starting ${workers} workers`);
  let stopping = false;
  for (let i = 0; i < workers; i++) nodeCluster.fork({ DEMO_WORKER: String(i) });
  let exited = 0;
  nodeCluster.on('exit', (worker, code) => {
    if (!stopping) console.error(`ssehub demo: worker ${worker.process.pid} exited (${code})`);
    if (++exited === workers) process.exit(stopping ? 0 : 1);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopping = true;
      for (const worker of Object.values(nodeCluster.workers ?? {})) worker?.process.kill(signal);
    });
  }
} else {
  await serve();
}

async function serve(): Promise<void> {
  const worker = process.env.DEMO_WORKER;

  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`ssehub demo: PORT must be a port number, got "${process.env.PORT}"`);
    process.exit(1);
  }

  let demo: ReturnType<typeof createDemo>;
  const { TLS_CERT, TLS_KEY } = process.env;
  try {
    if (Boolean(TLS_CERT) !== Boolean(TLS_KEY))
      throw new Error('TLS_CERT and TLS_KEY go together: set both (paths to PEM files) or neither');
    demo = createDemo({
      tls:
        TLS_CERT && TLS_KEY
          ? { cert: readFileSync(TLS_CERT), key: readFileSync(TLS_KEY) }
          : undefined,
      env: process.env,
      // One worker of several plays the rounds, for the groups of the whole cluster.
      challenges: worker === undefined ? 'local' : worker === '0' ? 'cluster' : 'none',
    });
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

  if (process.env.REDIS_URL)
    console.log('ssehub demo: joining the Redis backplane at REDIS_URL...');
  await demo.ready;

  demo.server.listen(port, host, () => {
    const address = demo.server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const notes = [
      process.env.SSE_SECRET ? 'stream tokens on (SSE_SECRET)' : '',
      process.env.SSE_PUBLISH_KEY ? 'publisher key on (SSE_PUBLISH_KEY)' : '',
      process.env.REDIS_URL ? 'Redis backplane (REDIS_URL)' : '',
      worker === undefined ? '' : `worker ${worker}`,
    ].filter(Boolean);
    console.log(
      `ssehub demo: ${TLS_CERT ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${actual}${notes.length ? `  (${notes.join(', ')})` : ''}`,
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
}
