/** The module workerd provides to Workers: https://developers.cloudflare.com/workers/runtime-apis/rpc/ */
declare module 'cloudflare:workers' {
  import type { DurableObjectState } from './cloudflare.js';

  /** Base class of a Durable Object whose public methods are callable over RPC from a stub. */
  export abstract class DurableObject<Env = unknown> {
    protected readonly ctx: DurableObjectState;
    protected readonly env: Env;
    constructor(ctx: DurableObjectState, env: Env);
    fetch?(request: Request): Response | Promise<Response>;
  }
}
