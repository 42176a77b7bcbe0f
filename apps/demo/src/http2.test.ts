/**
 * The demo over HTTPS with TLS_CERT and TLS_KEY: HTTP/2 (Node's own http2 client) for the page,
 * a stream and the admin proxy on one connection, HTTP/1.1 still served, SIGTERM a clean exit.
 */

import { type ClientHttp2Session, connect } from 'node:http2';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { testCertificate } from '@ssehub/conformance/certificate';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DemoProcess, startDemo } from './test-support.js';

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function h2(session: ClientHttp2Session, path: string, body?: unknown): Promise<Answer> {
  const request = session.request({
    ':path': path,
    ...(body === undefined ? {} : { ':method': 'POST', 'content-type': 'application/json' }),
  });
  request.end(body === undefined ? undefined : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const answer: Answer = { status: 0, headers: {}, body: '' };
    request.on('response', (headers) => {
      answer.status = Number(headers[':status']);
      answer.headers = headers;
    });
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (answer.body += chunk));
    request.on('end', () => resolve(answer));
    request.on('error', reject);
  });
}

describe('the demo over HTTPS (TLS_CERT, TLS_KEY)', () => {
  let demo: DemoProcess;
  let session: ClientHttp2Session;
  beforeAll(async () => {
    demo = await startDemo(testCertificate());
    session = connect(demo.url, { rejectUnauthorized: false });
    session.on('error', () => {});
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  });
  afterAll(async () => {
    session?.destroy();
    await demo?.stop();
  });

  test('serves the page, a stream and the admin proxy over HTTP/2 on one connection', async () => {
    expect(demo.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(session.alpnProtocol).toBe('h2');
    const page = await h2(session, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('"@ssehub/client": "/lib/client/index.js"');

    const stream = session.request({ ':path': '/api/v1/sse/stream/h2/a' });
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    const head = await new Promise<Record<string, unknown>>((resolve) =>
      stream.once('response', resolve),
    );
    expect(head[':status']).toBe(200);
    await expect.poll(() => text, { timeout: 10_000 }).toContain('event: connected');

    // The admin proxy rewrites the request (url, authorization) on an HTTP/2 request too.
    const sent = await h2(session, '/demo/admin/publish', {
      group: 'h2',
      id: 'a',
      event: 'system',
      data: { message: 'over h2' },
    });
    expect(sent.status, sent.body).toBe(200);
    await expect.poll(() => text, { timeout: 10_000 }).toContain('over h2');
    stream.close();
  });

  test('still answers HTTP/1.1 clients', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpsRequest(
        `${demo.url}/demo/config`,
        { rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as RequestOptions,
        (response) => {
          expect(response.httpVersion).toBe('1.1');
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(status).toBe(200);
  });

  test('slowloris: a silent TLS client and a partial HTTP/1.1 head are cut within 10 s, a stream stays open', async () => {
    const stream = session.request({ ':path': '/api/v1/sse/stream/quiet/a' });
    let closed = false;
    stream.on('close', () => (closed = true));
    stream.on('error', () => {});
    stream.resume();
    await new Promise((resolve) => stream.once('response', resolve));
    const { port } = new URL(demo.url);
    const cut: number[] = [];
    const started = Date.now();
    for (const [alpn, head] of [
      ['h2', undefined],
      ['http/1.1', 'GET /demo/config HTTP/1.1\r\nHost: 127.0.0.1\r\n'],
    ] as const) {
      const socket = tlsConnect({
        port: Number(port),
        host: '127.0.0.1',
        rejectUnauthorized: false,
        ALPNProtocols: [alpn],
      });
      socket.on('secureConnect', () => head && socket.write(head));
      socket.on('error', () => {});
      socket.on('close', () => cut.push(Date.now() - started));
      socket.resume();
    }
    await expect.poll(() => cut.length, { timeout: 20_000, interval: 200 }).toBe(2);
    // closeIdleConnections' 10 s, plus slack for a busy machine.
    expect(Math.max(...cut)).toBeGreaterThanOrEqual(9_500);
    expect(Math.max(...cut)).toBeLessThan(16_000);
    expect(closed).toBe(false);
    expect(session.destroyed).toBe(false);
    stream.close();
  }, 30_000);

  test('SIGTERM ends an HTTP/2 stream and exits 0', async () => {
    const stream = session.request({ ':path': '/api/v1/sse/stream/bye/a' });
    let ended = false;
    stream.on('close', () => (ended = true));
    stream.on('error', () => {});
    stream.resume();
    await new Promise((resolve) => stream.once('response', resolve));
    const started = Date.now();
    expect(await demo.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect.poll(() => ended, { timeout: 5_000 }).toBe(true);
  });
});
