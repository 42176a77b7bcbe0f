/**
 * Hosts a Node server under test: a node:http server on 127.0.0.1 with an ephemeral port, the
 * `/bench/*` control API, and everything else handed to the library's request listener. Prints
 * `{"port":N}` on stdout once listening; the harness reads it.
 */
import http from 'node:http';
import { type BenchTarget, control } from './control.js';

export type NodeListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** `extra` is printed beside the port (e.g. `streamPort`, where streams are served elsewhere). */
export function hostNode(
  target: BenchTarget,
  listener: NodeListener,
  extra: Record<string, number> = {},
): http.Server {
  const server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 0 }, (req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/bench/')) {
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      control(path, params, target).then(
        (body) => {
          res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body ?? { error: 'not found' }));
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: String(err) }));
        },
      );
      return;
    }
    listener(req, res);
  });
  server.headersTimeout = 0;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ port, ...extra })}\n`);
  });
  // The harness closes stdin (or dies): stop with it. Exiting (rather than dying of the signal)
  // lets `--cpu-prof` write its profile.
  process.stdin.on('end', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.stdin.resume();
  return server;
}
