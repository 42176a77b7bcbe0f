/**
 * Load-generator worker: a separate process holding thousands of raw-TCP SSE clients.
 *
 * Each client is a bare `net.Socket` with a hand-written GET; responses go through
 * {@link SseResponseParser}. No HTTP client library sits in between, so the generator's own cost
 * per event stays small and equal for every server under test.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { ConnectCommand, PhaseResult, WorkerCommand, WorkerReport } from './protocol.js';
import { SseResponseParser } from './sse-parser.js';

const now = (): number => performance.timeOrigin + performance.now();

function send(report: WorkerReport): void {
  process.send?.(report);
}

interface Client {
  close(): void;
}

const clients: Client[] = [];
const readBuffer = Buffer.allocUnsafe(256 * 1024);
let closedDuringPhase = 0;

// Current phase.
let phase = '';
let tag = -1;
let stale = 0;
let expectedTotal = 0;
let received = 0;
let latencies = new Float64Array(0);
let firstReceiveAt = 0;
let lastReceiveAt = 0;
let reported = true;
let cpuAtExpect = process.cpuUsage();

function onTimedEvent(sentAt: number, eventTag: number): void {
  if (eventTag !== tag) {
    stale++;
    return;
  }
  const at = now();
  if (received < latencies.length) latencies[received] = at - sentAt;
  if (received === 0) firstReceiveAt = at;
  lastReceiveAt = at;
  received++;
  if (!reported && received >= expectedTotal) report(true);
}

function report(complete: boolean): void {
  reported = true;
  const result: PhaseResult = {
    type: 'result',
    phase,
    received,
    expected: expectedTotal,
    latencies: latencies.slice(0, Math.min(received, latencies.length)),
    firstReceiveAt,
    lastReceiveAt,
    stale,
    cpuMicros: ((u) => u.user + u.system)(process.cpuUsage(cpuAtExpect)),
    closed: closedDuringPhase,
    complete,
  };
  send(result);
}

function openClient(cmd: ConnectCommand, index: number): Promise<boolean> {
  return new Promise((resolve) => {
    const id = cmd.firstId + index;
    const parser = new SseResponseParser(onTimedEvent);
    let settled = false;
    // `onread` reads into one shared buffer and skips the Readable machinery ('data' events,
    // a Buffer per read): the cheapest way for Node to drain thousands of sockets.
    const socket = net.connect({
      host: cmd.host,
      port: cmd.port,
      onread: {
        buffer: readBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          parser.push(buf as Buffer, n);
          if (!settled && parser.headComplete) settle(parser.status === 200);
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    const client: Client = { close: () => socket.destroy() };
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    socket.on('connect', () => {
      socket.write(
        `GET ${cmd.path}?group=g${id % cmd.groups}&id=c${id} HTTP/1.1\r\n` +
          `Host: ${cmd.host}:${cmd.port}\r\nAccept: text/event-stream\r\n` +
          'Cache-Control: no-cache\r\n\r\n',
      );
    });
    socket.on('error', () => settle(false));
    socket.on('close', () => {
      closedDuringPhase++;
      settle(false);
    });
    clients.push(client);
  });
}

/** HTTP/2 connections of this worker, `streamsPerConnection` clients on each. */
const sessions: http2.ClientHttp2Session[] = [];

/** One client as one stream of a shared HTTP/2 connection (h2c, prior knowledge). */
function openStream(cmd: ConnectCommand, index: number): Promise<boolean> {
  const perConnection = cmd.streamsPerConnection ?? 50;
  const at = Math.floor(index / perConnection);
  let session = sessions[at];
  if (session === undefined) {
    session = http2.connect(`http://${cmd.host}:${cmd.port}`, {
      // Room for every stream's unread events: flow control is not what is measured.
      settings: { initialWindowSize: 1 << 20 },
    });
    session.on('error', () => {});
    sessions[at] = session;
  }
  return new Promise((resolve) => {
    const id = cmd.firstId + index;
    const parser = new SseResponseParser(onTimedEvent);
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    const stream = session.request({
      ':path': `${cmd.path}?group=g${id % cmd.groups}&id=c${id}`,
      accept: 'text/event-stream',
    });
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      parser.startBody(status);
      settle(status === 200);
    });
    stream.on('data', (chunk: Buffer) => parser.push(chunk));
    stream.on('error', () => settle(false));
    stream.on('close', () => {
      closedDuringPhase++;
      settle(false);
    });
    clients.push({ close: () => stream.close() });
  });
}

async function connectAll(cmd: ConnectCommand): Promise<void> {
  const open = cmd.protocol === 'h2' ? openStream : openClient;
  let connected = 0;
  let failed = 0;
  const errors: string[] = [];
  for (let start = 0; start < cmd.count; start += cmd.batch) {
    const end = Math.min(cmd.count, start + cmd.batch);
    const batch: Promise<boolean>[] = [];
    for (let i = start; i < end; i++) batch.push(open(cmd, i));
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
    const results = await Promise.race([Promise.all(batch), timeout]);
    if (results === 'timeout') {
      errors.push(`batch at ${start} timed out waiting for response heads`);
      failed += end - start;
      break;
    }
    for (const ok of results) ok ? connected++ : failed++;
    send({ type: 'progress', connected, failed });
  }
  closedDuringPhase = 0;
  send({ type: 'connected', connected, failed, errors });
}

process.on('message', (msg: WorkerCommand) => {
  switch (msg.type) {
    case 'connect':
      void connectAll(msg);
      break;
    case 'expect':
      phase = msg.phase;
      tag = msg.tag;
      stale = 0;
      cpuAtExpect = process.cpuUsage();
      expectedTotal = msg.perClient * clients.length;
      received = 0;
      firstReceiveAt = 0;
      lastReceiveAt = 0;
      closedDuringPhase = 0;
      if (latencies.length < expectedTotal) latencies = new Float64Array(expectedTotal);
      reported = expectedTotal === 0;
      send({ type: 'ready', phase });
      if (expectedTotal === 0) report(true);
      break;
    case 'collect':
      if (!reported) report(false);
      break;
    case 'close':
      for (const c of clients) c.close();
      for (const session of sessions) session.destroy();
      process.exit(0);
  }
});

// Never outlive the harness.
process.on('disconnect', () => process.exit(0));
