/**
 * One node's link to the backplane: the hub's broker and history store over one Redis (a single
 * Redis server or a replicated one; not the sharded Redis Cluster). The jobs live in their own
 * files: `connection` (the ioredis connections), `ordering` (the ordered-delivery state machine),
 * `history` (the `HistoryStore`), `broker` (the `Broker`) and `report` (metrics and backplane
 * info). This facade wires them together.
 *
 * Design, in short (README "Ordering" has the long form):
 * - A send is appended to a Redis Stream and published by one Lua script, so the order of pub/sub
 *   messages equals the order of stream ids on every node. That script is the send's commit point.
 * - Every node, the origin included, delivers in that order: the origin's own send waits for its
 *   echo on pub/sub before the hub delivers it locally (the echo is not delivered twice), and
 *   messages behind it wait until the hub has. So a client's events always arrive in stream-id
 *   order, and "everything after my Last-Event-ID" is exactly what it missed, on any node.
 * - While Redis is unreachable the broker reports `down` and the hub refuses sends
 *   (`broker_unavailable`, HTTP 503) before delivering anything; a send whose script fails is
 *   refused the same way. After a reconnect the node resubscribes and reads the stream from the
 *   last id it delivered, so it misses nothing that was stored meanwhile.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Broker, HistoryStore, Hub, PresenceStore } from '@ssehub/core';
import type { Redis } from 'ioredis';
import { RedisBroker } from './broker.js';
import { RedisConnections, RedisUnavailableError } from './connection.js';
import { RedisHistory } from './history.js';
import { Ordering } from './ordering.js';
import { RedisPresence } from './presence.js';
import {
  type BackplaneInfo,
  positive,
  type RedisMetrics,
  Reporter,
  type ReportOptions,
} from './report.js';
import { keysOf } from './wire.js';

/** Options of a node's link to the backplane. */
export interface RedisBackplaneOptions {
  /**
   * The Redis to use: a `redis://` URL (default `redis://127.0.0.1:6379`), or your own ioredis
   * client. With your own client, commands go through it (give it `enableOfflineQueue: false` so
   * commands fail at once while Redis is down) and a `duplicate()` of it subscribes; `close()`
   * leaves your client open.
   */
  redis?: Redis | string;
  /** Prefix of keys and channels; hubs with one prefix form one backplane (default `ssehub`). */
  prefix?: string;
  /** This node's name in backplane info (default: host name, pid and a random suffix); unique. */
  nodeId?: string;
  /** Bounds of the shared history. */
  history?: {
    /** About this many events are kept (default 10 000; Redis trims in whole blocks). */
    maxEvents?: number;
    /** Events older than this are trimmed, in ms (default 5 minutes). */
    maxAgeMs?: number;
  };
  /**
   * How long a send waits for its echo, the proof of its place in the backplane order, before it
   * is delivered anyway (default 1 000 ms; counted in `orderTimeouts`).
   */
  orderTimeoutMs?: number;
  /** A command that Redis does not answer in this long fails (default 2 000 ms). */
  commandTimeoutMs?: number;
  /** Cluster-wide presence (`hub.presence()`, `join` / `leave`). */
  presence?: {
    /**
     * A node that stops renewing its lease (renewed every quarter of it) for this long is dead:
     * its clients leave (default 8 000 ms, so they leave within about 10 s of a `kill -9`).
     */
    leaseMs?: number;
  };
  /** Errors before a hub is attached (afterwards they go to the hub's `onError`). */
  onError?: (error: unknown, context: string) => void;
}

let nodeCounter = 0;

function defaultNodeId(): string {
  const suffix = `${(nodeCounter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `${hostname()}-${process.pid}-${suffix}`;
}

/**
 * A node's link to the backplane. Give the hub its `history` and `broker`, then `report` the hub
 * so `info()` can sum the backplane:
 *
 * ```ts
 * const backplane = new RedisBackplane({ redis: process.env.REDIS_URL });
 * const hub = new Hub({ ...backplane.hubOptions, onError });
 * backplane.report(hub);
 * await backplane.ready();
 * ```
 *
 * `hub.close()` closes the link too.
 */
export class RedisBackplane {
  /** This node's name. */
  readonly nodeId: string;
  /** The history store to pass to the hub: Redis Streams, ordered ids across the backplane. */
  readonly history: HistoryStore;
  /**
   * The broker to pass to the hub: Redis pub/sub, each send delivered once per node. Its
   * `status()` is `down` while the command connection is, and the hub then refuses sends.
   */
  readonly broker: Broker;
  /**
   * The presence store to pass to the hub: who is online on every node, with leases so the
   * clients of a node that died leave (see `RedisBackplaneOptions.presence`).
   */
  readonly presence: PresenceStore;

  /** `history`, `broker` and `presenceStore` together, to spread into the hub's options. */
  get hubOptions(): {
    readonly history: HistoryStore;
    readonly broker: Broker;
    readonly presenceStore: PresenceStore;
  } {
    return { history: this.history, broker: this.broker, presenceStore: this.presence };
  }

  readonly #broker: RedisBroker;
  readonly #presence: RedisPresence;
  readonly #connections: RedisConnections;
  readonly #ordering: Ordering;
  readonly #reporter: Reporter;
  readonly #options: RedisBackplaneOptions;
  readonly #metrics: RedisMetrics = {
    connected: false,
    subscribed: false,
    reconnects: 0,
    errors: 0,
    appendFailures: 0,
    publishFailures: 0,
    resubscribes: 0,
    orderTimeouts: 0,
    remoteMessages: 0,
    recoveredEvents: 0,
  };
  #closed = false;

  constructor(options: RedisBackplaneOptions = {}) {
    this.#options = options;
    this.nodeId = options.nodeId ?? defaultNodeId();
    // Unique even when two processes are given the same nodeId: a node skips its own echo by it.
    const origin = `${this.nodeId.replace(/\s/g, '_')}~${randomBytes(6).toString('base64url')}`;
    const keys = keysOf(options.prefix ?? 'ssehub', origin);
    const maxEvents = positive(options.history?.maxEvents ?? 10_000, 'history.maxEvents');
    const maxAgeMs = positive(options.history?.maxAgeMs ?? 5 * 60_000, 'history.maxAgeMs');
    const orderTimeoutMs = positive(options.orderTimeoutMs ?? 1_000, 'orderTimeoutMs');
    const commandTimeoutMs = positive(options.commandTimeoutMs ?? 2_000, 'commandTimeoutMs');
    const metrics = this.#metrics;
    const error = (e: unknown, context: string) => this.#error(e, context);
    const closed = () => this.#closed;
    const close = () => this.close();

    this.#connections = new RedisConnections(options.redis, commandTimeoutMs, {
      error,
      commandReady: (first) => {
        metrics.connected = true;
        if (!first) metrics.reconnects++;
        this.#presence?.ready();
      },
      commandClosed: () => {
        metrics.connected = false;
      },
      subscriberReady: () => this.#broker.subscribe(),
      subscriberClosed: () => this.#broker.unsubscribed(),
      message: (channel, raw) => this.#broker.receive(channel, raw),
    });
    metrics.connected = this.#connections.commandReady;
    this.#ordering = new Ordering({ origin, orderTimeoutMs, counters: metrics, onError: error });
    const link = {
      connections: this.#connections,
      ordering: this.#ordering,
      metrics,
      keys,
      origin,
      maxEvents,
      closed,
      close,
    };
    this.history = new RedisHistory({ ...link, maxAgeMs });
    this.#broker = new RedisBroker({ ...link, error });
    this.broker = this.#broker;
    this.#presence = new RedisPresence({
      connections: this.#connections,
      prefix: options.prefix ?? 'ssehub',
      origin,
      leaseMs: positive(options.presence?.leaseMs ?? 8_000, 'presence.leaseMs'),
      closed,
    });
    this.presence = this.#presence;
    this.#reporter = new Reporter(
      this.#connections,
      keys,
      this.nodeId,
      () => this.metrics(),
      error,
    );
  }

  /** Resolves once the node can store sends and receives the other nodes' (after `start`). */
  async ready(): Promise<void> {
    await this.#connections.ready();
    await this.#broker.ready;
  }

  /** Counters and state of this node's Redis link. */
  metrics(): RedisMetrics {
    return { ...this.#metrics };
  }

  /** The last stream id delivered on this node, in backplane order. */
  get watermark(): string | undefined {
    return this.#ordering.watermark;
  }

  /**
   * Writes the hub's `info()` (and this link's metrics) every `intervalMs` under a key that
   * expires after `ttlMs`, so `info()` on any node sees this one until it stops reporting.
   * Returns a function that stops reporting; `close()` stops it too.
   */
  report(hub: Pick<Hub, 'info'>, options: ReportOptions = {}): () => void {
    return this.#reporter.report(hub, options);
  }

  /** The backplane's totals and each live node's figures, as last reported. */
  info(): Promise<BackplaneInfo> {
    return this.#reporter.info();
  }

  /**
   * Stops reporting (removing this node from backplane info), unsubscribes and closes the
   * connections this link opened. Called by `hub.close()`; safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ordering.close(new RedisUnavailableError('The backplane is closed.'));
    this.#metrics.subscribed = false;
    await this.#reporter.stop();
    await this.#connections.close();
  }

  #error(error: unknown, context: string): void {
    this.#metrics.errors++;
    const report = this.#ordering.node?.onError ?? this.#options.onError;
    try {
      report?.(error, context);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }
}

/** Creates a node's link to the backplane (same as `new RedisBackplane(options)`). */
export function redisBackplane(options?: RedisBackplaneOptions): RedisBackplane {
  return new RedisBackplane(options);
}
