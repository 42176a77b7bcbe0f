/**
 * `pnpm bench --scenario storm`: 10 000 SSE clients on one ssehub node, the node killed (SIGKILL)
 * and restarted, and the clients' return measured: time until all are back, the node's peak CPU
 * and RSS meanwhile against its steady state, and whether every client's replay was exact (every
 * event once, in order, none missing). Needs redis-server (`REDIS_URL`, default a local one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CLIENTS = arg('clients', 10_000);
const ADMIT = arg('admit', 2_000);
const PORT = arg('port', 47_311);
const EVENTS_BEFORE = 5;
const EVENTS_AFTER = 5;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const here = path.dirname(fileURLToPath(import.meta.url));

interface Client {
  id: number;
  lastId: string;
  received: number[];
  open: boolean;
  retry: number;
  refusals: number;
}

let server: ChildProcess | undefined;
function startServer(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'server.js')], {
      env: {
        ...process.env,
        PORT: String(PORT),
        REDIS_URL,
        SSE_REDIS_PREFIX: `storm${process.pid}`,
        STORM_ADMIT: String(ADMIT),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

/** CPU seconds and RSS of a process, from /proc. */
function sample(pid: number): { cpu: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpu: ticks / 100, rss: rssPages * 4096 };
}

function connect(client: Client): void {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (client.lastId) headers['last-event-id'] = client.lastId;
  const req = request(
    {
      host: '127.0.0.1',
      port: PORT,
      path: `/api/v1/sse/stream/storm/c${client.id}`,
      headers,
      agent: false,
    },
    (res) => {
      if (res.statusCode !== 200) {
        client.refusals++;
        const wait = Number(res.headers['retry-after'] ?? 1) * 1000 + Math.random() * 1000;
        res.resume();
        setTimeout(() => connect(client), wait);
        return;
      }
      client.open = true;
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          let event = 'message';
          let data = '';
          let id: string | undefined;
          for (const line of frame.split('\n')) {
            if (line.startsWith('retry: ')) client.retry = Number(line.slice(7));
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data = line.slice(6);
            else if (line.startsWith('id: ')) id = line.slice(4);
          }
          if (id !== undefined) client.lastId = id;
          if (event === 'tick') client.received.push(Number(data));
        }
      });
      const again = () => {
        if (!client.open) return;
        client.open = false;
        setTimeout(() => connect(client), client.retry);
      };
      res.on('end', again);
      res.on('error', again);
      res.on('close', again);
    },
  );
  req.on('error', () => {
    // Refused while the node is down: the EventSource's reconnect after `retry`.
    client.open = false;
    setTimeout(() => connect(client), client.retry);
  });
  req.end();
}

function publish(n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ group: 'storm', event: 'tick', data: n });
    const req = request(
      {
        host: '127.0.0.1',
        port: PORT,
        path: '/api/v1/sse/publish',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer storm' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out: ${what}`);
    await wait(50);
  }
  return Date.now() - started;
}

async function main(): Promise<void> {
  server = await startServer();
  const clients: Client[] = Array.from({ length: CLIENTS }, (_, id) => ({
    id,
    lastId: '',
    received: [],
    open: false,
    retry: 2000,
    refusals: 0,
  }));
  for (const client of clients) connect(client);
  const firstUp = await until(() => clients.every((c) => c.open), 120_000, 'first connect');
  console.log(`${CLIENTS} clients connected in ${(firstUp / 1000).toFixed(1)} s`);
  for (let n = 0; n < EVENTS_BEFORE; n++) await publish(n);
  await until(() => clients.every((c) => c.received.length === EVENTS_BEFORE), 60_000, 'events');
  await wait(2000);
  const steady = sample(server.pid!);
  console.log(`steady state: RSS ${(steady.rss / 2 ** 20).toFixed(0)} MiB`);

  // The restart: SIGKILL, then a new process on the same port.
  const refusalsBefore = clients.reduce((sum, c) => sum + c.refusals, 0);
  server.removeAllListeners('exit');
  server.kill('SIGKILL');
  await new Promise((resolve) => server!.once('exit', resolve));
  const killedAt = Date.now();
  server = await startServer();
  const startedAt = Date.now();
  // Events published while the clients are still coming back: they must come by replay or live.
  for (let n = EVENTS_BEFORE; n < EVENTS_BEFORE + EVENTS_AFTER; n++) await publish(n);
  let peakRss = 0;
  let peakCpu = 0;
  let last = sample(server.pid!);
  let lastAt = Date.now();
  const sampler = setInterval(() => {
    const now = sample(server!.pid!);
    const at = Date.now();
    peakRss = Math.max(peakRss, now.rss);
    peakCpu = Math.max(peakCpu, (now.cpu - last.cpu) / ((at - lastAt) / 1000));
    last = now;
    lastAt = at;
  }, 250);
  const total = EVENTS_BEFORE + EVENTS_AFTER;
  await until(() => clients.every((c) => c.open), 180_000, 'every client back');
  const backMs = Date.now() - killedAt;
  const backAfterListenMs = Date.now() - startedAt;
  await until(() => clients.every((c) => c.received.length >= total), 60_000, 'every replay');
  await wait(1000);
  clearInterval(sampler);
  const expected = Array.from({ length: total }, (_, n) => n).join(',');
  const exact = clients.filter((c) => c.received.join(',') === expected).length;
  const refusals = clients.reduce((sum, c) => sum + c.refusals, 0) - refusalsBefore;
  const steadyAfter = sample(server.pid!);
  console.log(
    [
      `storm: ${CLIENTS} clients, admitPerSecond ${ADMIT}, retry 2000 ms + jitter 0.5`,
      `all back ${(backMs / 1000).toFixed(1)} s after the kill (${(backAfterListenMs / 1000).toFixed(1)} s after the restarted node listened)`,
      `503 refusals during the return: ${refusals}`,
      `peak CPU of the node: ${(peakCpu * 100).toFixed(0)} % of one core`,
      `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB vs steady state ${(steady.rss / 2 ** 20).toFixed(0)} MiB before (${(peakRss / steady.rss).toFixed(2)}x); after: ${(steadyAfter.rss / 2 ** 20).toFixed(0)} MiB`,
      `exact replay: ${exact}/${CLIENTS} clients received events 0..${total - 1} once each, in order`,
    ].join('\n'),
  );
  server.kill('SIGKILL');
  process.exit(exact === CLIENTS ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  server?.kill('SIGKILL');
  process.exit(1);
});
