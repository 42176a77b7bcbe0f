/**
 * The few Bun APIs this app uses, typed here rather than pulling in `@types/bun`.
 * https://bun.sh/docs/api/http
 */
export interface BunServer {
  readonly port: number;
  requestIP(request: Request): { readonly address: string } | null;
  /** Sets this request's idle timeout in seconds (0: none). */
  timeout(request: Request, seconds: number): void;
  stop(closeActiveConnections?: boolean): Promise<void>;
}

export interface Bun {
  readonly env: Record<string, string | undefined>;
  serve(options: {
    port: number;
    hostname: string;
    idleTimeout?: number;
    fetch(request: Request, server: BunServer): Response | Promise<Response>;
  }): BunServer;
}
