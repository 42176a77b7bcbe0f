/**
 * ssehub on node:http2: a default `Hub` and `@ssehub/node`'s `sseHandler` on
 * `http2.createServer()`, HTTP/2 without TLS (h2c, prior knowledge) so that the row compares the
 * protocol, not encryption, with the HTTP/1.1 rows. Streams are served on `streamPort`; the
 * control API on node:http as for every other server. The handler is the server's `'stream'`
 * listener (`handler.onStream`), Node's raw HTTP/2 API, not the compatibility API.
 */
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { hostNode } from './node-host.js';
import { hubTarget } from './ssehub-target.js';

const hub = new Hub();
const handler = sseHandler(hub);
// The 'stream' listener: no compatibility objects (Http2ServerRequest/Response) per stream.
const streams = createServer().on('stream', handler.onStream);
await new Promise<void>((resolve) => streams.listen(0, '127.0.0.1', resolve));
hostNode(hubTarget(hub), handler, { streamPort: (streams.address() as AddressInfo).port });
