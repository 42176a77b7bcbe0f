import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  createSecureServer,
  type Http2SecureServer,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Hub, type HubOptions } from '@ssehub/core';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  closeGracefully,
  closeIdleConnections,
  type SSEHandlerOptions,
  sseHandler,
} from './index.js';
import { waitFor } from './testing.test-util.js';

// node:http2 with the compatibility API, as `http2.createSecureServer(options, sseHandler(hub))`
// is meant to be used, and Node's own http2 client.

const BASE = '/api/v1/sse';
const KEY = 'k';
let tls: { cert: Buffer; key: Buffer };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'ssehub-h2-'));
  execFileSync('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1'],
    ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
  ]);
  tls = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
  rmSync(dir, { recursive: true });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Mode = 'request' | 'onStream';

/**
 * `request`: the compatibility API, `createSecureServer({ allowHTTP1: true }, handler)`.
 * `onStream`: HTTP/2 only, `createSecureServer(options).on('stream', handler.onStream)`.
 */
function serve(hub: Hub, mode: Mode, options: SSEHandlerOptions = {}): Http2SecureServer {
  const handler = sseHandler(hub, options);
  return mode === 'request'
    ? createSecureServer({ ...tls, allowHTTP1: true }, handler)
    : createSecureServer(tls).on('stream', handler.onStream);
}

async function start(hubOptions: HubOptions = {}, mode: Mode = 'request') {
  const hub = new Hub(hubOptions);
  const server = serve(hub, mode, { publisherKey: KEY, maxBodyBytes: 1024 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = connect(origin, { rejectUnauthorized: false });
  session.on('error', () => {});
  cleanups.push(async () => {
    session.destroy();
    await closeGracefully(server, hub, { timeoutMs: 2_000 });
  });
  return { hub, server, origin, session };
}

interface H2Stream {
  readonly request: ClientHttp2Stream;
  headers: Record<string, string | string[] | undefined>;
  readonly events: EventSourceMessage[];
  ended: boolean;
  resetCode: number | undefined;
  next(match: (event: EventSourceMessage) => boolean, what: string): Promise<EventSourceMessage>;
}

function openStream(session: ClientHttp2Session, path: string): Promise<H2Stream> {
  const request = session.request({ ':path': `${BASE}${path}` });
  const stream: H2Stream = {
    request,
    headers: {},
    events: [],
    ended: false,
    resetCode: undefined,
    async next(match, what) {
      let found: EventSourceMessage | undefined;
      await waitFor(() => (found = stream.events.find(match)) !== undefined, 10_000, what);
      return found!;
    },
  };
  const parser = createParser({ onEvent: (event) => stream.events.push(event) });
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => parser.feed(chunk));
  request.on('error', () => {});
  request.on('close', () => {
    stream.ended = true;
    stream.resetCode = request.rstCode;
  });
  return new Promise((resolve, reject) => {
    request.once('response', (headers) => {
      stream.headers = headers;
      resolve(stream);
    });
    request.once('error', reject);
  });
}

function publish(session: ClientHttp2Session, body: unknown): Promise<number> {
  return post(session, '/publish', JSON.stringify(body)).then((answer) => answer.status);
}

function post(
  session: ClientHttp2Session,
  path: string,
  body: string,
): Promise<{ status: number; text: string }> {
  const request = session.request({
    ':method': 'POST',
    ':path': `${BASE}${path}`,
    'content-type': 'application/json',
    authorization: `Bearer ${KEY}`,
  });
  request.end(body);
  return new Promise((resolve, reject) => {
    let status = 0;
    let text = '';
    request.on('response', (headers) => (status = Number(headers[':status'])));
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => resolve({ status, text }));
    request.on('error', reject);
  });
}

const connected = (e: EventSourceMessage) => e.event === 'connected';

describe.each<Mode>(['request', 'onStream'])('sseHandler on node:http2 (%s)', (mode) => {
  test('streams over HTTP/2 with the SSE headers, and publishes', async () => {
    const { session } = await start({}, mode);
    const stream = await openStream(session, '/stream/g/a');
    expect(stream.headers[':status']).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    // Connection-specific headers are forbidden in HTTP/2 (RFC 9113, 8.2.2).
    expect(stream.headers.connection).toBeUndefined();
    await stream.next(connected, 'connected');
    expect(await publish(session, { group: 'g', id: 'a', event: 'note', data: 1 })).toBe(200);
    expect((await stream.next((e) => e.event === 'note', 'note')).data).toBe('1');
    stream.request.close();
    await waitFor(() => stream.ended, 5_000, 'the stream to close');
  });

  test('twelve streams share one connection and all receive a broadcast', async () => {
    const { hub, session } = await start({}, mode);
    const streams = await Promise.all(
      Array.from({ length: 12 }, (_, i) => openStream(session, `/stream/tabs/t${i}`)),
    );
    await Promise.all(streams.map((s) => s.next(connected, 'connected')));
    expect(hub.connectionCount).toBe(12);
    expect(await publish(session, { event: 'all', data: 'x' })).toBe(200);
    await Promise.all(streams.map((s) => s.next((e) => e.event === 'all', 'the broadcast')));
    // A client closing its stream (a tab closing) removes it from the hub, not its neighbours.
    streams[0]!.request.close();
    await waitFor(() => hub.connectionCount === 11, 5_000, 'the hub to drop the stream');
    expect(session.closed).toBe(false);
  });

  test('flow control: a stream that is not read is reset as slow, its connection carries on', async () => {
    const { hub, session } = await start(
      { maxQueuedEvents: 4, slowClientPolicy: 'disconnect' },
      mode,
    );
    const slow = await openStream(session, '/stream/g/slow');
    const other = await openStream(session, '/stream/g/other');
    await slow.next(connected, 'connected');
    await other.next(connected, 'connected');
    // Not reading: the client stops granting window, the server's stream.write() says false.
    slow.request.pause();
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 2_000 && hub.info().counters.slowDisconnects === 0; i++) {
      await hub.send({ group: 'g', id: 'slow' }, { data: big });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(hub.info().counters.slowDisconnects).toBe(1);
    await waitFor(() => slow.ended, 5_000, 'the slow stream to be reset');
    expect(slow.resetCode).toBe(8); // NGHTTP2_CANCEL
    await hub.send({ group: 'g', id: 'other' }, { event: 'still', data: 'here' });
    await other.next((e) => e.event === 'still', 'an event on the other stream');
    expect(hub.connectionCount).toBe(1);
  });

  test('the stall sweep resets a stream that does not drain', async () => {
    const { hub, session } = await start(
      {
        idleTimeoutMs: 300,
        sweepIntervalMs: 100,
        maxQueuedEvents: 10_000,
        maxQueuedBytes: 1 << 30,
      },
      mode,
    );
    const stalled = await openStream(session, '/stream/g/stall');
    await stalled.next(connected, 'connected');
    stalled.request.pause();
    const big = 'x'.repeat(64 * 1024);
    // Enough to fill the flow-control window (64 KiB) and the stream's buffer: blocked.
    for (let i = 0; i < 8; i++) await hub.send({ group: 'g', id: 'stall' }, { data: big });
    await waitFor(() => hub.info().counters.stalledDisconnects === 1, 10_000, 'the sweep');
    await waitFor(() => stalled.ended, 5_000, 'the stalled stream to be reset');
    expect(hub.connectionCount).toBe(0);
  });

  test('a server-side disconnect ends the stream cleanly (END_STREAM, not a reset)', async () => {
    const { hub, session } = await start({}, mode);
    const stream = await openStream(session, '/stream/g/kick');
    await stream.next(connected, 'connected');
    hub.disconnect({ group: 'g', id: 'kick' });
    await waitFor(() => stream.ended, 5_000, 'the stream to end');
    expect(stream.resetCode).toBe(0); // NGHTTP2_NO_ERROR
    expect(hub.connectionCount).toBe(0);
  });

  test('closeGracefully ends the streams and closes the server and its sessions', async () => {
    const hub = new Hub();
    const server = serve(hub, mode);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const session = connect(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, {
      rejectUnauthorized: false,
    });
    session.on('error', () => {});
    const stream = await openStream(session, '/stream/g/a');
    await stream.next(connected, 'connected');
    const started = Date.now();
    await closeGracefully(server, hub, { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(4_000);
    await waitFor(() => stream.ended && session.destroyed, 5_000, 'the session to close');
    expect(server.listening).toBe(false);
  });

  test('answers other paths and refused bodies in JSON, and the session carries on', async () => {
    const { session } = await start({}, mode);
    const missing = await post(session, '/nothing', '{}');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text)).toMatchObject({ code: 404, error: 'not_found' });
    const bad = await post(session, '/publish', '{');
    expect(bad.status).toBe(400);
    const large = await post(session, '/publish', JSON.stringify({ data: 'x'.repeat(4096) }));
    expect(large.status).toBe(413);
    expect(JSON.parse(large.text)).toMatchObject({ code: 413, message: expect.any(String) });
    expect(await publish(session, { event: 'ok', data: 1 })).toBe(200);
    expect(session.closed).toBe(false);
  });
});

describe('closeIdleConnections (slowloris on node:http2)', () => {
  const TIMEOUT = 300;

  async function startBounded() {
    const hub = new Hub({ heartbeatMs: 60_000 });
    const server = closeIdleConnections(serve(hub, 'request', { publisherKey: KEY }), {
      timeoutMs: TIMEOUT,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    cleanups.push(() => closeGracefully(server, hub, { timeoutMs: 2_000 }));
    return { hub, port };
  }

  /** A TLS connection that negotiates `alpn`, sends `head` (if any) and nothing more. */
  function silent(port: number, alpn: string, head?: string) {
    const socket = tlsConnect({
      port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ALPNProtocols: [alpn],
    });
    const state = { secure: false, closed: false, at: 0 };
    socket.on('secureConnect', () => {
      state.secure = true;
      if (head !== undefined) socket.write(head);
    });
    socket.on('error', () => {});
    // Reads (and drops) what the server sends, so that it sees the server close.
    socket.resume();
    socket.on('close', () => {
      state.closed = true;
      state.at = Date.now();
    });
    cleanups.push(async () => void socket.destroy());
    return state;
  }

  test('a TLS client that never sends a request, and a partial HTTP/1.1 head, are cut; an open stream stays', async () => {
    const { hub, port } = await startBounded();
    const session = connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    cleanups.push(async () => void session.destroy());
    const stream = await openStream(session, '/stream/g/quiet');
    await stream.next(connected, 'connected');

    const started = Date.now();
    const h2 = silent(port, 'h2');
    const h1 = silent(
      port,
      'http/1.1',
      'GET /api/v1/sse/stream/g/x HTTP/1.1\r\nHost: 127.0.0.1\r\n',
    );
    await waitFor(() => h2.closed && h1.closed, 10_000, 'the silent connections to be cut');
    expect(h2.secure && h1.secure).toBe(true);
    // Within the bound: the timeout plus generous slack for a busy machine, far below Node's
    // 120 s handshake timeout or the head timeouts that do not apply here.
    expect(Math.max(h2.at, h1.at) - started).toBeGreaterThanOrEqual(TIMEOUT - 50);
    expect(Math.max(h2.at, h1.at) - started).toBeLessThan(5_000);

    // The stream has been silent for longer than the timeout (no heartbeat for 60 s) and is open.
    await new Promise((resolve) => setTimeout(resolve, TIMEOUT * 3));
    expect(stream.ended).toBe(false);
    expect(session.closed || session.destroyed).toBe(false);
    await hub.send({ group: 'g', id: 'quiet' }, { event: 'late', data: 1 });
    await stream.next((e) => e.event === 'late', 'an event after the idle time');
  }, 20_000);
});
