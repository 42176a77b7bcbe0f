/**
 * The few Deno APIs this app uses, typed here so `tsc` checks it without Deno's own types.
 * https://docs.deno.com/api/deno/~/Deno.serve
 */
export interface DenoServer {
  readonly addr: { readonly hostname: string; readonly port: number };
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

export interface ServeHandlerInfo {
  readonly remoteAddr: { readonly hostname: string; readonly port: number };
}

export interface Deno {
  readonly env: { toObject(): Record<string, string> };
  serve(
    options: {
      port: number;
      hostname: string;
      onListen?: (addr: { hostname: string; port: number }) => void;
    },
    handler: (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>,
  ): DenoServer;
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  exit(code?: number): never;
}
