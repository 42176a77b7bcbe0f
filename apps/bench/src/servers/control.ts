/**
 * The benchmark control API every server under test exposes beside its stream endpoint.
 *
 * Runtime-agnostic (Node, Bun, Deno): no `node:` imports. A server implements {@link BenchTarget}
 * with its library's idiomatic calls; everything else — payloads, timing, phases — is shared so the
 * only thing that differs between servers is the library doing the sending.
 */

/**
 * The event data every server sends: JSON with the phase tag `k`, the send timestamp `t` (ms,
 * sub-ms precision) and padding `p`. The tag lets the load generator tell a late event of an
 * earlier phase (a server still catching up) from one of the phase it is measuring.
 */
export interface Payload {
  k: number;
  t: number;
  p: string;
}

/** What a server under test must provide: its library's way of sending one event. */
export interface BenchTarget {
  /** Sends `payload` as one event to every connected client. */
  broadcast(payload: Payload): void;
  /** Sends `payload` to one client: id `c0`, `c1`, ..., a member of group `g0`, `g1`, .... */
  unicast(client: { readonly group: string; readonly id: string }, payload: Payload): void;
  /**
   * Sends `payload` as one event to each listed client, in one call where the library has one
   * (ssehub's `sendMany`). Without it, the harness calls `unicast` for each client.
   */
  many?(
    clients: readonly { readonly group: string; readonly id: string }[],
    payload: Payload,
  ): void;
  /** Sends `payload` to every client of the group (`g0`, `g1`, ...). */
  group(group: string, payload: Payload): void;
  /** Connected clients as the library counts them. */
  clients(): number;
}

/** Wall-clock ms with sub-ms precision; the load generator uses the same clock. */
export const now = (): number => performance.timeOrigin + performance.now();

interface RuntimeGlobals {
  gc?: () => void;
  Bun?: { gc(force: boolean): void };
  Deno?: { memoryUsage(): MemoryStats };
  process?: { memoryUsage(): MemoryStats; cpuUsage?(): { user: number; system: number } };
}

/**
 * CPU time this process used so far, in µs (user + system), and the part of it in the kernel,
 * from one reading; NaN where the runtime has no API.
 */
export function cpuMicros(): { micros: number; system: number } {
  const usage = (globalThis as unknown as RuntimeGlobals).process?.cpuUsage?.();
  return usage
    ? { micros: usage.user + usage.system, system: usage.system }
    : { micros: Number.NaN, system: Number.NaN };
}

export interface MemoryStats {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

/** Memory after a full GC where the runtime allows one (`--expose-gc`, `Bun.gc`). */
export function memory(): MemoryStats {
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Bun) g.Bun.gc(true);
  else if (typeof g.gc === 'function') {
    g.gc();
    g.gc();
  }
  const m = g.Deno ? g.Deno.memoryUsage() : g.process!.memoryUsage();
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external };
}

const padCache = new Map<number, string>();
function pad(size: number): string {
  let p = padCache.get(size);
  if (p === undefined) padCache.set(size, (p = 'x'.repeat(size)));
  return p;
}

function int(params: URLSearchParams, name: string, fallback: number): number {
  const v = params.get(name);
  const n = v === null ? Number.NaN : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Handles `/bench/*` requests. Returns the JSON body, or `undefined` for an unknown path.
 *
 * - `GET /bench/clients` — connected clients
 * - `GET /bench/cpu` — CPU time used so far, and the part of it in the kernel (µs)
 * - `GET /bench/stats` — clients and memory (after GC)
 * - `POST /bench/broadcast?n=&size=&tag=` — n broadcasts back to back
 * - `POST /bench/steady?rate=&duration=&size=` — broadcasts at a fixed rate; answers when done
 * - `POST /bench/unicast?clients=&groups=&rounds=&size=` — one event to each client, `rounds` times
 * - `POST /bench/many?clients=&groups=&rounds=&size=` — one event to every client listed in one
 *   call, `rounds` times
 * - `POST /bench/group?groups=&rounds=&size=` — one event to each group, `rounds` times
 */
export async function control(
  path: string,
  params: URLSearchParams,
  target: BenchTarget,
): Promise<unknown> {
  const size = int(params, 'size', 64);
  const tag = int(params, 'tag', 0);
  switch (path) {
    case '/bench/clients':
      return { clients: target.clients() };
    case '/bench/cpu':
      return cpuMicros();
    case '/bench/stats':
      return { clients: target.clients(), memory: memory() };
    case '/bench/broadcast': {
      const n = int(params, 'n', 1);
      const startedAt = now();
      for (let i = 0; i < n; i++) target.broadcast({ k: tag, t: now(), p: pad(size) });
      return { startedAt, endedAt: now(), clients: target.clients() };
    }
    case '/bench/steady': {
      const rate = int(params, 'rate', 10);
      const duration = int(params, 'duration', 10_000);
      const interval = 1000 / rate;
      const count = Math.round((duration / 1000) * rate);
      const startedAt = now();
      for (let i = 0; i < count; i++) {
        const due = startedAt + i * interval;
        const wait = due - now();
        if (wait > 0) await sleep(wait);
        target.broadcast({ k: tag, t: now(), p: pad(size) });
      }
      return { startedAt, endedAt: now(), sent: count };
    }
    case '/bench/unicast': {
      const refs = clientRefs(params);
      const rounds = int(params, 'rounds', 1);
      const startedAt = now();
      for (let r = 0; r < rounds; r++) {
        for (const client of refs) target.unicast(client, { k: tag, t: now(), p: pad(size) });
      }
      return { startedAt, endedAt: now() };
    }
    case '/bench/many': {
      const refs = clientRefs(params);
      const rounds = int(params, 'rounds', 1);
      const startedAt = now();
      for (let r = 0; r < rounds; r++) {
        const payload = { k: tag, t: now(), p: pad(size) };
        if (target.many) target.many(refs, payload);
        else for (const client of refs) target.unicast(client, payload);
      }
      return { startedAt, endedAt: now() };
    }
    case '/bench/group': {
      const groups = int(params, 'groups', 1);
      const rounds = int(params, 'rounds', 1);
      const startedAt = now();
      for (let r = 0; r < rounds; r++) {
        for (let g = 0; g < groups; g++) target.group(`g${g}`, { k: tag, t: now(), p: pad(size) });
      }
      return { startedAt, endedAt: now() };
    }
    default:
      return undefined;
  }
}

/** Clients `c0`..`c<clients-1>`; client c<i> is in group g<i % groups> (see the load generator). */
function clientRefs(params: URLSearchParams): { group: string; id: string }[] {
  const groups = int(params, 'groups', 1);
  return Array.from({ length: int(params, 'clients', 0) }, (_, i) => ({
    group: `g${i % groups}`,
    id: `c${i}`,
  }));
}

/** Reads `group` and `id` from a stream URL's query (`/sse?group=g1&id=c7`). */
export function clientOf(url: string): { group: string; id: string } {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  return { group: params.get('group') ?? 'g0', id: params.get('id') ?? '' };
}
