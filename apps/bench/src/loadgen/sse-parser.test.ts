import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseResponseParser } from './sse-parser.js';

function parseAll(chunks: (string | Buffer)[]): { parser: SseResponseParser; times: number[] } {
  const times: number[] = [];
  const parser = new SseResponseParser((t, k) => times.push(k === -1 ? t : t * 1000 + k));
  for (const c of chunks) parser.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  return { parser, times };
}

const HEAD =
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
const chunk = (s: string): string => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

describe('SseResponseParser', () => {
  it('reads the head and de-chunks timed events', () => {
    const body = `${chunk(': ok\n\n')}${chunk('data: {"t":12.5,"p":"x"}\n\n')}${chunk('event: a\nid: 1\ndata: {"t":1700000000000.25}\n\n')}`;
    const { parser, times } = parseAll([HEAD + body]);
    expect(parser.status).toBe(200);
    expect(parser.chunked).toBe(true);
    expect(times).toEqual([12.5, 1700000000000.25]);
  });

  it('reads an HTTP/2 body (head from HEADERS, no chunked framing) with startBody', () => {
    const times: number[] = [];
    const parser = new SseResponseParser((t) => times.push(t));
    parser.startBody(200);
    for (const part of [': ok\n\ndata: {"t":7', ',"p":"x"}\n\n', 'data: {"t":8}\n\n'])
      parser.push(Buffer.from(part));
    expect(parser.headComplete).toBe(true);
    expect(parser.status).toBe(200);
    expect(times).toEqual([7, 8]);
  });

  it('handles every split point, CRLF lines and events without a timestamp', () => {
    const text = `${HEAD}${chunk('data: {"t":3}\r\n\r\n')}${chunk('data: connected\n\n')}${chunk('data: {"t":4')}${chunk(',"p":"y"}\n')}${chunk('\n')}0\r\n\r\n`;
    const bytes = Buffer.from(text, 'latin1');
    for (let split = 1; split < bytes.length; split++) {
      const { parser, times } = parseAll([bytes.subarray(0, split), bytes.subarray(split)]);
      expect(times, `split at ${split}`).toEqual([3, 4]);
      expect(parser.ended).toBe(true);
    }
    const byteByByte = parseAll([...bytes].map((b) => Buffer.from([b])));
    expect(byteByByte.times).toEqual([3, 4]);
  });

  it('reports the phase tag when the data has one', () => {
    const { times } = parseAll([`${HEAD}${chunk('data: {"k":3,"t":5,"p":"x"}\n\n')}`]);
    expect(times).toEqual([5003]);
  });

  it('reads fractions, signs and tags split at any byte, and only from data lines', () => {
    const body = `${chunk('id: {"t":1}\nevent: {"k":9}\n\n')}${chunk('data: {"k":12,"t":1764180000123.456,"p":"q"}\n\n')}${chunk('data: {"t":-2.5}\n\n')}`;
    const bytes = Buffer.from(`${HEAD}${body}`, 'latin1');
    for (let split = 1; split < bytes.length; split++) {
      const { times } = parseAll([bytes.subarray(0, split), bytes.subarray(split)]);
      expect(times, `split at ${split}`).toEqual([1764180000123.456 * 1000 + 12, -2.5]);
    }
  });

  it('reads a body without chunked encoding', () => {
    const { parser, times } = parseAll([
      'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {"t":7}\n\ndata: {"t":8}\n\n',
    ]);
    expect(parser.chunked).toBe(false);
    expect(times).toEqual([7, 8]);
  });

  describe('against a node:http server over raw TCP', () => {
    let server: http.Server;
    let port = 0;
    beforeAll(async () => {
      server = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let i = 0; i < 100; i++) res.write(`data: {"t":${i},"p":"${'z'.repeat(i)}"}\n\n`);
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('counts every event', async () => {
      const times: number[] = [];
      const parser = new SseResponseParser((t) => times.push(t));
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () =>
          socket.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n'),
        );
        socket.on('data', (b: Buffer) => {
          parser.push(b);
          if (parser.ended) {
            socket.destroy();
            resolve();
          }
        });
        socket.on('error', reject);
      });
      expect(parser.chunked).toBe(true);
      expect(times).toEqual(Array.from({ length: 100 }, (_, i) => i));
    });
  });
});
