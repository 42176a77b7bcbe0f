/**
 * Hosts a fetch-handler server under test on Bun (`Bun.serve`) or Deno (`Deno.serve`): 127.0.0.1,
 * ephemeral port, `/bench/*` control API, `{"port":N}` on stdout once listening. No `node:` imports
 * so the same file runs on both.
 */
import { type BenchTarget, control } from './control.js';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

interface BunServer {
  port: number;
}
interface BunGlobal {
  serve(options: {
    hostname: string;
    port: number;
    idleTimeout: number;
    fetch: FetchHandler;
  }): BunServer;
  stdin: { stream(): ReadableStream<Uint8Array> };
}
interface DenoGlobal {
  serve(
    options: { hostname: string; port: number; onListen(addr: { port: number }): void },
    handler: FetchHandler,
  ): unknown;
  stdin: { readable: ReadableStream<Uint8Array> };
  exit(code: number): never;
}

/** Which fetch runtime this is, or undefined on Node. */
export function fetchRuntime(): 'bun' | 'deno' | undefined {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  return g.Bun ? 'bun' : g.Deno ? 'deno' : undefined;
}

function announce(port: number): void {
  console.log(JSON.stringify({ port }));
}

async function exitWhenStdinEnds(stdin: ReadableStream<Uint8Array>, exit: () => void) {
  const reader = stdin.getReader();
  try {
    while (!(await reader.read()).done) {}
  } catch {}
  exit();
}

export function hostFetch(target: BenchTarget, handler: FetchHandler): void {
  const fetch: FetchHandler = async (request) => {
    const url = new URL(request.url);
    if (url.pathname.startsWith('/bench/')) {
      const body = await control(url.pathname, url.searchParams, target);
      return Response.json(body ?? { error: 'not found' }, {
        status: body === undefined ? 404 : 200,
      });
    }
    return handler(request);
  };
  const g = globalThis as { Bun?: BunGlobal; Deno?: DenoGlobal };
  if (g.Bun) {
    const bun = g.Bun;
    // idleTimeout 0: Bun otherwise closes a quiet SSE stream after 10 s.
    const server = bun.serve({ hostname: '127.0.0.1', port: 0, idleTimeout: 0, fetch });
    announce(server.port);
    void exitWhenStdinEnds(bun.stdin.stream(), () =>
      (globalThis as unknown as { process: { exit(c: number): never } }).process.exit(0),
    );
  } else if (g.Deno) {
    const deno = g.Deno;
    deno.serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }) => announce(port) }, fetch);
    void exitWhenStdinEnds(deno.stdin.readable, () => deno.exit(0));
  } else {
    throw new Error('hostFetch runs on Bun or Deno; on Node use hostNode');
  }
}

export const SSE_HEADERS: Record<string, string> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
};
