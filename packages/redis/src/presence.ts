/**
 * Cluster-wide presence (core's `PresenceStore`) in Redis. Each node writes its clients under its
 * name and renews a lease every quarter of `leaseMs`; one Lua script applies a node's changes
 * and decides the joins and leaves atomically (a client's first node, its last), so each is
 * reported once, by the node whose change caused it. Every renewal also reaps the nodes whose
 * lease ended (a process killed with `kill -9`): their clients leave, reported by the live node
 * that reaped them. A node that finds itself reaped (a long pause, Redis lost) writes all of its
 * clients again.
 */

import type { PresenceClient, PresenceNode, PresenceStore } from '@ssehub/core';
import type { RedisConnections } from './connection.js';
import { PRESENCE_LIST, PRESENCE_SYNC } from './scripts.js';

export interface RedisPresenceOptions {
  readonly connections: RedisConnections;
  readonly prefix: string;
  readonly origin: string;
  readonly leaseMs: number;
  readonly closed: () => boolean;
}

export class RedisPresence implements PresenceStore {
  readonly #options: RedisPresenceOptions;
  #node: PresenceNode | undefined;
  /** Changes not yet written, in fours: kind, group, id, payload. */
  #ops: string[] = [];
  #scheduled = false;
  #resync = false;
  #registered = false;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: RedisPresenceOptions) {
    this.#options = options;
  }

  start(node: PresenceNode): void {
    this.#node = node;
    this.#timer = setInterval(() => this.#sync(), this.#options.leaseMs / 4);
    this.#timer.unref?.();
    this.#sync();
  }

  put(group: string, id: string, connections: number, meta: unknown): void {
    this.#ops.push('p', group, id, payload(connections, meta));
    this.#schedule();
  }

  remove(group: string, id: string): void {
    this.#ops.push('d', group, id, '');
    this.#schedule();
  }

  async list(group: string): Promise<PresenceClient[]> {
    const { connections, prefix } = this.#options;
    const reply = (await connections.script(PRESENCE_LIST, [], [prefix, group])) as string[];
    const byId = new Map<
      string,
      { id: string; connections: number; meta: Record<string, unknown> }
    >();
    for (let i = 0; i < reply.length; i += 2) {
      const id = reply[i]!;
      const { c, m } = JSON.parse(reply[i + 1]!) as { c: number; m: Record<string, unknown> };
      const client = byId.get(id);
      if (client === undefined) byId.set(id, { id, connections: c, meta: m });
      else client.connections += c;
    }
    return [...byId.values()];
  }

  /** Stops renewing the lease. The node's clients then leave once it ends, unless they are back elsewhere. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  /** The command connection is ready (again): write what is pending now. */
  ready(): void {
    if (this.#node !== undefined) this.#sync();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // One script per tick for every change of that tick, in order.
    setTimeout(() => {
      this.#scheduled = false;
      this.#sync();
    }, 0).unref?.();
  }

  /** Writes the pending changes (all of the node's clients after a failure), renews the lease, reaps. */
  #sync(): void {
    this.#chain = this.#chain
      .then(() => this.#run())
      .catch((error) => this.#node?.onError(error, 'presence'));
  }

  async #run(): Promise<void> {
    const node = this.#node;
    if (node === undefined || this.#options.closed()) return;
    const { connections, prefix, origin, leaseMs } = this.#options;
    if (!connections.commandReady) {
      // Written in full when the connection is ready (`ready()`) or at the next renewal.
      if (this.#ops.length > 0) this.#resync = true;
      this.#ops = [];
      return;
    }
    const resync = this.#resync;
    let ops = this.#ops;
    this.#ops = [];
    if (resync) {
      // The full state replaces whatever was pending: it already contains it.
      ops = [];
      for (const client of node.snapshot())
        ops.push('p', client.group, client.id, payload(client.connections, client.meta));
    }
    // A resync is one script (it prunes what it does not list); other changes go in bounded
    // batches, so a burst of connections never makes one huge command.
    let from = 0;
    do {
      const batch = resync ? ops : ops.slice(from, from + MAX_BATCH_ARGS);
      from += batch.length;
      let reply: (string | number)[];
      try {
        reply = (await connections.script(
          PRESENCE_SYNC,
          [],
          [prefix, origin, String(leaseMs), resync ? '1' : '0', ...batch],
        )) as (string | number)[];
      } catch (error) {
        // What was lost is rewritten in full once Redis answers again.
        this.#resync = true;
        node.onError(error, 'presence');
        return;
      }
      for (let i = 1; i + 2 < reply.length; i += 3) {
        node.changed({
          kind: reply[i] === 'join' ? 'join' : 'leave',
          group: String(reply[i + 1]),
          id: String(reply[i + 2]),
        });
      }
      if (reply[0] === 1 && this.#registered && !resync) {
        // Reaped while it was away: its clients left; write them again (they join again).
        this.#resync = true;
        this.#sync();
      }
      this.#registered = true;
    } while (from < ops.length);
    if (resync) this.#resync = false;
  }
}

/** Changes per script: 1 000 (four arguments each). */
const MAX_BATCH_ARGS = 4_000;

/** A client's record: its connections here and its meta (`{}` when the meta is not JSON). */
function payload(connections: number, meta: unknown): string {
  try {
    return JSON.stringify({ c: connections, m: meta ?? {} });
  } catch {
    return JSON.stringify({ c: connections, m: {} });
  }
}
