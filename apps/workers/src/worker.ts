/**
 * The Cloudflare Workers example: a thin Worker that routes every request to one Durable Object,
 * `HubObject`, which holds the hub and answers the reference routes of @ssehub/fetch.
 *
 * Why an object: a Worker runs in many isolates that share no memory, so a hub in a module
 * global would miss every send made in another isolate. A Durable Object is a single instance
 * for its name, wherever it is called from: every stream and every publish meets in it. Its
 * replay history is in the object's storage (`DurableHistory`), so a client that reconnects after
 * the object restarted still gets what it missed.
 *
 * Run locally on workerd: `PORT=3000 SSE_PUBLISH_KEY=dev pnpm start` (scripts/start.mjs).
 * Deploy: `wrangler deploy` with wrangler.toml (the same bindings).
 */

import { DurableObject } from 'cloudflare:workers';
import { Hub } from '@ssehub/core';
import { serverErrorResponse } from '@ssehub/core/adapter';
import { type FetchHandler, sseHandler } from '@ssehub/fetch';
import type { DurableObjectNamespace, DurableObjectState } from './cloudflare.js';
import { DurableHistory } from './history.js';
import { settings } from './settings.js';

/** The Worker's bindings: the object namespace, and the `SSE_*` variables as plain-text vars. */
export interface Env {
  readonly HUB: DurableObjectNamespace;
  /** The object every request goes to (default `hub`). */
  readonly SSE_OBJECT_NAME?: string;
  /**
   * `1`: take the client's address (for `SSE_MAX_PER_IP`) from `CF-Connecting-IP`, which
   * Cloudflare's edge sets on every request. Leave it off where something else could set it.
   */
  readonly SSE_TRUST_CF_CONNECTING_IP?: string;
  readonly [variable: string]: unknown;
}

/**
 * The Durable Object that holds the hub. One instance per name: every stream and publish routed
 * to it meets here. It runs on one thread, so one object bounds the fan-out (see README, "Scale").
 */
export class HubObject extends DurableObject<Env> {
  #hub: Hub | undefined;
  #handle: FetchHandler | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // No request reaches the object before its history is read back from storage.
    void ctx.blockConcurrencyWhile(async () => {
      let config: ReturnType<typeof settings>['config'];
      let trustCfConnectingIp: boolean;
      try {
        ({ config, trustCfConnectingIp } = settings(env));
      } catch (error) {
        // A configuration error: every request gets a 500 and the log says why.
        console.error(error);
        return;
      }
      // configFromEnv gives the history's bounds (SSE_HISTORY_MAX, SSE_HISTORY_MAX_AGE_MS).
      const bounds = config.hub.history;
      const history = await DurableHistory.load(
        ctx.storage,
        typeof bounds === 'object' && !('append' in bounds) ? bounds : {},
      );
      this.#hub = new Hub({ ...config.hub, history });
      // A Worker is handed no socket address: with SSE_TRUST_CF_CONNECTING_IP=1 the fetch adapter
      // reads the client's address from CF-Connecting-IP (set by Cloudflare's edge); without it,
      // settings() has already refused SSE_MAX_PER_IP.
      this.#handle = sseHandler(this.#hub, {
        ...config.handler,
        ...(trustCfConnectingIp ? { trustProxyHeader: 'cf-connecting-ip' } : {}),
      });
    });
  }

  override async fetch(request: Request): Promise<Response> {
    if (this.#handle === undefined) {
      const { status, headers, body } = serverErrorResponse();
      return new Response(body, { status, headers });
    }
    const response = await this.#handle(request);
    // A body the hub answered without reading (403, 415, 404...): read it to the end first. On
    // workerd, a request whose body is left unread ends its client's keep-alive connection with
    // a reset, which the client's next request on that connection gets instead of an answer.
    if (request.body !== null && !request.bodyUsed) await drain(request.body);
    return response;
  }

  /**
   * Ends every stream (after flushing what was queued) and closes the hub. Called over RPC by the
   * local launcher on SIGTERM; a Worker's request cannot reach it.
   */
  async shutdown(): Promise<void> {
    await this.#hub?.close();
  }

  /**
   * Resets the object as the platform does on an eviction or a crash: its streams break and the
   * next request constructs it anew from storage. RPC only, for the restart test.
   */
  restart(): void {
    this.ctx.abort('restart requested');
  }
}

/** At most this much of an unread body is read and dropped; a larger one is cancelled. */
const DRAIN_BYTES = 1024 * 1024;

async function drain(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  let dropped = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      dropped += value.byteLength;
      if (dropped > DRAIN_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The client went away: nothing left to drop.
  }
}

export default {
  /** The thin router: every request, as it is, to the one hub object. */
  fetch(request: Request, env: Env): Promise<Response> {
    const id = env.HUB.idFromName(
      typeof env.SSE_OBJECT_NAME === 'string' ? env.SSE_OBJECT_NAME : 'hub',
    );
    return env.HUB.get(id).fetch(request);
  },
};
