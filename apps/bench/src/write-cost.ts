/**
 * `pnpm --filter @ssehub/bench write-cost`: what one small write to each of N loopback sockets
 * costs this machine, with no HTTP and no SSE library in the way. It is the floor under the
 * steady-rate latency: a broadcast to N clients with nothing to coalesce is N writes, and the
 * last client cannot hear before the N-th write is done.
 *
 * The writer (this process) accepts N connections from a reader process that drains them, then
 * writes one ~120-byte buffer to every socket, 20 times per round with 100 ms between passes,
 * and prints the median pass: wall time and the process's user and system CPU per write.
 * Options: `--clients N` (default 10 000, at most ~19 000: open files are capped at 20 000).
 */

import { fork } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const PASSES = 20;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? fallback : Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes a positive integer`);
  return value;
}

/** The reader: opens `count` connections to `port` and discards what arrives. */
function read(port: number, count: number): void {
  let opened = 0;
  const batch = () => {
    for (let i = 0; i < 250 && opened < count; i++, opened++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('data', () => {});
      socket.on('error', () => {});
    }
    if (opened < count) setTimeout(batch, 5);
  };
  batch();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function write(count: number): Promise<void> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const reader = fork(fileURLToPath(import.meta.url), ['--reader', String(port), String(count)]);
  const deadline = Date.now() + 60_000;
  while (sockets.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${sockets.length} of ${count} connected`);
    await sleep(50);
  }
  // One framed SSE event, as a broadcast writes it.
  const event = `data: {"t":0,"p":"${'x'.repeat(100)}"}\n\n`;
  const bytes = Buffer.from(`${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n`);
  const passes: { wallMs: number; userUs: number; systemUs: number }[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    await sleep(100);
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (const socket of sockets) socket.write(bytes);
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    passes.push({ wallMs, userUs: used.user / count, systemUs: used.system / count });
  }
  passes.sort((a, b) => a.wallMs - b.wallMs);
  const median = passes[PASSES >> 1]!;
  console.log(
    `${count} sockets, one ${bytes.byteLength}-byte write each (median of ${PASSES} passes): ` +
      `${median.wallMs.toFixed(1)} ms wall, ` +
      `${median.userUs.toFixed(2)} µs user + ${median.systemUs.toFixed(2)} µs system CPU per write`,
  );
  reader.kill();
  for (const socket of sockets) socket.destroy();
  server.close();
}

if (process.argv[2] === '--reader') read(Number(process.argv[3]), Number(process.argv[4]));
else await write(option('clients', 10_000));
