/**
 * Cross-node broadcast latency and throughput: 3 hub processes × 3 000 clients over one Redis,
 * beside a single node (no Redis) and a single node with Redis. Then unicast: every node sends
 * `--sends` events per client (one event to one client per send, spread over the clients of
 * every node), as fast as it can; sends per second, send → delivery p50/p99, Redis CPU per send
 * (INFO cpu) and an exactly-once check by event number.
 *
 *   pnpm --filter @ssehub/redis bench [-- --clients 3000 --seconds 5 --sends 10 --only unicast]
 *
 * Clients are raw TCP sockets on loopback in this process, which also publishes (HTTP POST to the
 * nodes' publish route), so one clock times publish → receive. Uses REDIS_URL when set,
 * otherwise starts its own redis-server. Everything shares the machine's cores: the figures are
 * for comparing the setups with each other, not absolute capacity.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { bundle } from '../test/bundle.js';
import { type RedisServer, startRedisServer } from '../test/redis-server.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const CLIENTS = option('clients', 3000);
const SECONDS = option('seconds', 5);
const RATE = option('rate', 20);
const PUBLISHERS = option('publishers', 8);
const SENDS = option('sends', 10);
/** Sends per trigger call: each is one synchronous loop of `hub.send` on a node. */
const BATCH = option('batch', 1000);
/** Send loops each node runs at once (the next starts when one has settled every send). */
const INFLIGHT = option('inflight', 2);
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

// ------------------------------------------------------------------ nodes

interface Node {
  readonly port: number;
  readonly child: ChildProcess;
}

/** The admin routes' key the nodes are started with. */
const PUBLISH_KEY = 'bench-publish-key';

async function startNode(script: string, env: Record<string, string>): Promise<Node> {
  // SSEHUB_BENCH_PROFILE=<dir>: a V8 CPU profile of every node, written when it stops.
  const profile = process.env.SSEHUB_BENCH_PROFILE;
  const flags = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
  const child = spawn(process.execPath, [...flags, script], {
    env: { ...process.env, QUIET: '1', SSE_PUBLISH_KEY: PUBLISH_KEY, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (data: Buffer) => {
      out += data.toString();
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`node exited with ${code}`)));
  });
  return { port, child };
}

async function stopNodes(nodes: Node[]): Promise<void> {
  await Promise.all(
    nodes.map(
      (node) =>
        new Promise<void>((resolve) => {
          if (node.child.exitCode !== null) return resolve();
          node.child.once('exit', () => resolve());
          // SIGTERM lets a profiled node write its profile; SIGKILL if it does not exit.
          node.child.kill('SIGTERM');
          setTimeout(() => node.child.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
}

// ------------------------------------------------------------------ clients

/** Raw SSE clients: count `data:` lines carrying a send time, and record the latency. */
class Clients {
  readonly sockets: Socket[] = [];
  /** Latency samples (ms) per node index, for the current phase. */
  samples: number[][] = [];
  received = 0;
  lastReceivedAt = 0;
  /** Unicast phase: deliveries per event number `k` (exactly-once check). */
  counts: Uint8Array | undefined;

  async connect(port: number, nodeIndex: number, count: number): Promise<void> {
    this.samples[nodeIndex] ??= [];
    const batch = 200;
    for (let start = 0; start < count; start += batch) {
      const opened: Promise<void>[] = [];
      for (let i = start; i < Math.min(count, start + batch); i++) {
        opened.push(this.#open(port, nodeIndex, `n${nodeIndex}c${i}`));
      }
      await Promise.all(opened);
    }
  }

  #open(port: number, nodeIndex: number, id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      let rest = '';
      let connected = false;
      socket.on('connect', () => {
        socket.write(
          `GET /api/v1/sse/stream/bench/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
        );
      });
      socket.on('data', (data: Buffer) => {
        const now = performance.now();
        const lines = (rest + data.toString('latin1')).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (!connected && line.startsWith('event: connected')) {
            connected = true;
            resolve();
          } else if (line.startsWith('data: {"t":')) {
            const comma = line.indexOf(',', 11);
            const t = Number(line.slice(11, comma));
            const counts = this.counts;
            if (counts) {
              // Unicast: sent by a node with the wall clock, counted by event number.
              const k = Number(line.slice(comma + 5, line.indexOf('}', comma)));
              counts[k] = Math.min(255, counts[k]! + 1);
              this.samples[nodeIndex]!.push(performance.timeOrigin + now - t);
            } else this.samples[nodeIndex]!.push(now - t);
            this.received++;
            this.lastReceivedAt = now;
          }
        }
      });
      socket.on('error', (error) => {
        if (!connected) reject(error);
      });
      this.sockets.push(socket);
    });
  }

  reset(): void {
    this.samples = this.samples.map(() => []);
    this.received = 0;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.length = 0;
  }
}

// ------------------------------------------------------------------ publishing

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function publish(port: number, seq: number): Promise<void> {
  const body = JSON.stringify({ data: { t: performance.now(), k: seq } });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/sse/publish',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${PUBLISH_KEY}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function stats(samples: number[]): { p50: number; p99: number; n: number } {
  const sorted = Float64Array.from(samples).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
}

// ------------------------------------------------------------------ scenarios

interface Row {
  setup: string;
  clients: number;
  local: { p50: number; p99: number; n: number };
  remote: { p50: number; p99: number; n: number } | undefined;
  broadcastsPerSecond: number;
  deliveriesPerSecond: number;
  complete: string;
}

/** Starts `nodeCount` nodes, connects `CLIENTS` clients to each, runs `measure`, stops it all. */
async function withCluster<T>(
  script: string,
  nodeCount: number,
  env: Record<string, string>,
  measure: (nodes: Node[], clients: Clients) => Promise<T>,
): Promise<T> {
  const nodes: Node[] = [];
  const clients = new Clients();
  try {
    for (let n = 0; n < nodeCount; n++)
      nodes.push(await startNode(script, { ...env, NODE_ID: `bench${n}` }));
    for (const [n, node] of nodes.entries()) await clients.connect(node.port, n, CLIENTS);
    await sleep(500);
    return await measure(nodes, clients);
  } finally {
    clients.close();
    await stopNodes(nodes);
  }
}

function scenario(
  name: string,
  script: string,
  nodeCount: number,
  env: Record<string, string>,
): Promise<Row> {
  return withCluster(script, nodeCount, env, async (nodes, clients) => {
    const total = nodeCount * CLIENTS;

    // Latency: a steady rate of broadcasts, all published on node 0.
    clients.reset();
    const count = RATE * SECONDS;
    for (let i = 0; i < count; i++) {
      await publish(nodes[0]!.port, i);
      await sleep(1000 / RATE);
    }
    await waitFor(() => clients.received >= count * total, 5_000);
    const local = stats(clients.samples[0]!);
    const remote = nodeCount > 1 ? stats(clients.samples.slice(1).flat()) : undefined;

    // Throughput: publishers as fast as the nodes answer, round robin over the nodes.
    clients.reset();
    let published = 0;
    const started = performance.now();
    const until = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: PUBLISHERS }, async (_, p) => {
        while (performance.now() < until) {
          const seq = published++;
          await publish(nodes[(seq + p) % nodeCount]!.port, seq);
        }
      }),
    );
    const done = await waitFor(() => clients.received >= published * total, 30_000);
    const elapsed = (clients.lastReceivedAt - started) / 1000;
    return {
      setup: name,
      clients: total,
      local,
      remote,
      broadcastsPerSecond: published / elapsed,
      deliveriesPerSecond: clients.received / elapsed,
      complete: done ? 'all' : `${((100 * clients.received) / (published * total)).toFixed(1)}%`,
    };
  });
}

// ------------------------------------------------------------------ unicast

interface UnicastRow {
  setup: string;
  clients: number;
  sends: number;
  sendsPerSecond: number;
  p50: number;
  p99: number;
  /** Redis CPU (user + sys) per send, µs; NaN without Redis. */
  redisCpuPerSend: number;
  refused: number;
  /** Event numbers delivered exactly once / not at all / more than once. */
  once: number;
  lost: number;
  duplicated: number;
}

function get<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(body)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function redisCpu(redisUrl: string | undefined): Promise<number> {
  if (redisUrl === undefined) return Number.NaN;
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  try {
    const info = await redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
  } finally {
    redis.disconnect();
  }
}

function unicastScenario(
  name: string,
  script: string,
  nodeCount: number,
  env: Record<string, string>,
  redisUrl: string | undefined,
): Promise<UnicastRow> {
  return withCluster(script, nodeCount, env, async (nodes, clients) => {
    const perNode = CLIENTS * SENDS;
    const total = perNode * nodeCount;
    clients.reset();
    clients.counts = new Uint8Array(total);
    const cpuBefore = await redisCpu(redisUrl);
    let refused = 0;
    const started = performance.now();
    // Every node sends its share (disjoint event numbers), in batches, as fast as it answers.
    await Promise.all(
      nodes.flatMap((node, n) => {
        let next = 0;
        return Array.from({ length: INFLIGHT }, async () => {
          while (next < perNode) {
            const done = next;
            const count = Math.min(BATCH, perNode - done);
            next += count;
            const reply = await get<{ refused: number }>(
              node.port,
              `/bench/unicast?from=${n * perNode + done}&count=${count}&nodes=${nodeCount}&clients=${CLIENTS}`,
            );
            refused += reply.refused;
          }
        });
      }),
    );
    await waitFor(() => clients.received >= total - refused, 60_000);
    await sleep(300);
    const cpuAfter = await redisCpu(redisUrl);
    const elapsed = (clients.lastReceivedAt - started) / 1000;
    let once = 0;
    let lost = 0;
    let duplicated = 0;
    for (const count of clients.counts) {
      if (count === 1) once++;
      else if (count === 0) lost++;
      else duplicated++;
    }
    const latency = stats(clients.samples.flat());
    return {
      setup: name,
      clients: nodeCount * CLIENTS,
      sends: total,
      sendsPerSecond: clients.received / elapsed,
      p50: latency.p50,
      p99: latency.p99,
      redisCpuPerSend: (cpuAfter - cpuBefore) / total,
      refused,
      once,
      lost,
      duplicated,
    };
  });
}

// ------------------------------------------------------------------ main

const script = await bundle('test/fixtures/node-server.ts');
let redis: RedisServer | undefined;
const url = process.env.REDIS_URL || (redis = await startRedisServer()).url;
const prefix = `ssehub-bench:${process.pid}`;
const rows: Row[] = [];
const unicastRows: UnicastRow[] = [];
try {
  if (ONLY !== 'unicast') {
    rows.push(await scenario('1 node, memory history', script, 1, { NO_REDIS: '1' }));
    rows.push(
      await scenario('1 node + Redis', script, 1, { REDIS_URL: url, SSEHUB_PREFIX: `${prefix}:a` }),
    );
    rows.push(
      await scenario('3 nodes + Redis', script, 3, {
        REDIS_URL: url,
        SSEHUB_PREFIX: `${prefix}:b`,
      }),
    );
  }
  if (ONLY !== 'broadcast') {
    unicastRows.push(
      await unicastScenario('1 node, memory history', script, 1, { NO_REDIS: '1' }, undefined),
    );
    unicastRows.push(
      await unicastScenario(
        '1 node + Redis',
        script,
        1,
        { REDIS_URL: url, SSEHUB_PREFIX: `${prefix}:c` },
        url,
      ),
    );
    unicastRows.push(
      await unicastScenario(
        '3 nodes + Redis',
        script,
        3,
        { REDIS_URL: url, SSEHUB_PREFIX: `${prefix}:d` },
        url,
      ),
    );
  }
} finally {
  agent.destroy();
  await redis?.stop();
}

const ms = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(1));
if (rows.length) {
  console.log(
    `\n${cpus().length} cores (${cpus()[0]?.model}), Node ${process.version}; ${CLIENTS} clients per node, ` +
      `latency at ${RATE} broadcasts/s for ${SECONDS} s (published on node 0), throughput with ` +
      `${PUBLISHERS} publishers for ${SECONDS} s\n`,
  );
  console.log(
    '| setup | clients | local p50 / p99 ms | cross-node p50 / p99 ms | broadcasts/s | deliveries/s | delivered |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const row of rows) {
    console.log(
      `| ${row.setup} | ${row.clients} | ${ms(row.local.p50)} / ${ms(row.local.p99)} | ` +
        `${row.remote ? `${ms(row.remote.p50)} / ${ms(row.remote.p99)}` : '–'} | ` +
        `${row.broadcastsPerSecond.toFixed(0)} | ${Math.round(row.deliveriesPerSecond)} | ${row.complete} |`,
    );
  }
}
if (unicastRows.length) {
  console.log(
    `\nUnicast: ${SENDS} sends per client, from every node to clients of every node, ${BATCH} sends per synchronous loop, ${INFLIGHT} loops in flight per node\n`,
  );
  console.log(
    '| setup | clients | sends | sends/s | vs 1 node in memory | p50 / p99 ms | Redis CPU µs/send | exactly once | lost | duplicated | refused |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const single = unicastRows[0]!.sendsPerSecond;
  for (const row of unicastRows) {
    console.log(
      `| ${row.setup} | ${row.clients} | ${row.sends} | ${Math.round(row.sendsPerSecond)} | ` +
        `${(row.sendsPerSecond / single).toFixed(2)}x | ${ms(row.p50)} / ${ms(row.p99)} | ` +
        `${Number.isNaN(row.redisCpuPerSend) ? '–' : row.redisCpuPerSend.toFixed(1)} | ${row.once} | ${row.lost} | ${row.duplicated} | ${row.refused} |`,
    );
  }
}
process.exit(0);
