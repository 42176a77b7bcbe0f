/**
 * One node's link to the cluster: the hub's broker and history store over one Redis.
 *
 * Design, in short (README "Ordering" has the long form):
 * - A send is appended to a Redis Stream and published by one Lua script, so the order of pub/sub
 *   messages equals the order of stream ids on every node.
 * - Every node, the origin included, delivers in that order: the origin's own send waits for its
 *   echo on pub/sub before the hub delivers it locally (the echo is not delivered twice), and
 *   messages behind it wait until the hub has. So a client's events always arrive in stream-id
 *   order, and "everything after my Last-Event-ID" is exactly what it missed, on any node.
 * - When Redis is gone nothing waits on it: appends fail at once, the hub assigns a local id and
 *   delivers locally, errors go to `onError` and the counters. After a reconnect the node
 *   resubscribes and reads the stream from the last id it delivered, so it misses nothing that
 *   was stored meanwhile.
 */

import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  Broker,
  BrokerMessage,
  BrokerNode,
  HistoryRecord,
  HistoryStore,
  Hub,
  ReplayResult,
  Target,
} from '@ssehub/core';
import { Redis, type RedisOptions } from 'ioredis';
import { type ClusterInfo, type NodeReport, type ReportOptions, sumInfo } from './info.js';
import { APPEND, SINCE } from './scripts.js';
import {
  type Body,
  clientId,
  compareStreamIds,
  type Envelope,
  encodeBody,
  entryFields,
  envelope,
  parseEnvelope,
  type StreamEntry,
  toMessage,
  toRecord,
  type WireTarget,
} from './wire.js';

// ------------------------------------------------------------------ types

/** Options of a node's link to the cluster. */
export interface RedisClusterOptions {
  /**
   * The Redis to use: a `redis://` URL (default `redis://127.0.0.1:6379`), or your own ioredis
   * client. With your own client, commands go through it (give it `enableOfflineQueue: false` so
   * commands fail at once while Redis is down) and a `duplicate()` of it subscribes; `close()`
   * leaves your client open.
   */
  redis?: Redis | string;
  /** Prefix of keys and channels; hubs with one prefix form one cluster (default `ssehub`). */
  prefix?: string;
  /** This node's name in cluster info (default: host name, pid and a random suffix); unique. */
  nodeId?: string;
  /** Bounds of the shared history. */
  history?: {
    /** About this many events are kept (default 10 000; Redis trims in whole blocks). */
    maxEvents?: number;
    /** Events older than this are trimmed, in ms (default 5 minutes). */
    maxAgeMs?: number;
  };
  /**
   * How long a send waits for its echo, the proof of its place in the cluster order, before it
   * is delivered anyway (default 1 000 ms; counted in `orderTimeouts`).
   */
  orderTimeoutMs?: number;
  /** A command that Redis does not answer in this long fails (default 2 000 ms). */
  commandTimeoutMs?: number;
  /** Errors before a hub is attached (afterwards they go to the hub's `onError`). */
  onError?: (error: unknown, context: string) => void;
}

/** Counters and state of the node's Redis link. */
export interface RedisMetrics {
  /** The command connection is up. */
  connected: boolean;
  /** The node is subscribed and receives other nodes' sends. */
  subscribed: boolean;
  /** Errors reported (every one also went to `onError`). */
  errors: number;
  /** Sends that could not be stored (delivered locally only, with a local id). */
  appendFailures: number;
  /** Disconnects and unstored sends that could not be published. */
  publishFailures: number;
  /** Times the subscription was lost and restored. */
  resubscribes: number;
  /** Sends delivered without their echo: Redis did not answer in order within `orderTimeoutMs`. */
  orderTimeouts: number;
  /** Messages of other nodes delivered here. */
  remoteMessages: number;
  /** Events of other nodes read back from the stream after a resubscribe (missed on pub/sub). */
  recoveredEvents: number;
}

/** Thrown (as a rejection) by commands while Redis is not connected. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

// ------------------------------------------------------------------ internals

/** A send of this node on its way through Redis. */
interface OwnSend {
  readonly seq: string;
  readonly appId: string | undefined;
  /** `sendWhere`: the hub delivers it but never publishes it. */
  readonly local: boolean;
  id: string | undefined;
  /** The append promise settled (the hub may deliver). */
  settled: boolean;
  /** The hub delivered it locally. */
  done: boolean;
  resolve: (id: string) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What waits, in stream order, to be delivered on this node. */
type Entry =
  | { readonly kind: 'remote'; readonly streamId: string; readonly message: BrokerMessage }
  | { readonly kind: 'own'; readonly streamId: string; readonly send: OwnSend }
  /** Nothing to deliver here, but its place in the order counts. */
  | { readonly kind: 'skip'; readonly streamId: string };

let nodeCounter = 0;

function defaultNodeId(): string {
  const suffix = `${(nodeCounter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `${hostname()}-${process.pid}-${suffix}`;
}

// ------------------------------------------------------------------ the cluster link

/**
 * A node's link to the cluster. Give the hub its `history` and `broker`, then `report` the hub so
 * `info()` can sum the cluster:
 *
 * ```ts
 * const cluster = new RedisCluster({ redis: process.env.REDIS_URL });
 * const hub = new Hub({ history: cluster.history, broker: cluster.broker, onError });
 * cluster.report(hub);
 * await cluster.ready();
 * ```
 *
 * `hub.close()` closes the link too.
 */
export class RedisCluster {
  /** This node's name. */
  readonly nodeId: string;
  /** The history store to pass to the hub: Redis Streams, ordered ids across the cluster. */
  readonly history: HistoryStore;
  /** The broker to pass to the hub: Redis pub/sub, each send delivered once per node. */
  readonly broker: Broker;

  /** `history` and `broker` together, to spread into the hub's options. */
  get hubOptions(): { readonly history: HistoryStore; readonly broker: Broker } {
    return { history: this.history, broker: this.broker };
  }

  readonly #command: Redis;
  readonly #subscriber: Redis;
  readonly #ownsCommand: boolean;
  /** This process's name on the wire. */
  readonly #origin: string;
  readonly #stream: string;
  readonly #channel: string;
  readonly #nodeChannel: string;
  readonly #prefix: string;
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  readonly #orderTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #options: RedisClusterOptions;
  readonly #metrics: RedisMetrics = {
    connected: false,
    subscribed: false,
    errors: 0,
    appendFailures: 0,
    publishFailures: 0,
    resubscribes: 0,
    orderTimeouts: 0,
    remoteMessages: 0,
    recoveredEvents: 0,
  };

  #node: BrokerNode | undefined;
  #seq = 0;
  /** Own sends by sequence, until delivered. */
  readonly #pending = new Map<string, OwnSend>();
  /** Own sends by event id, settled and waiting for the hub to deliver them. */
  readonly #settled = new Map<string, OwnSend[]>();
  /** `sendWhere` predicates of this node, for replay here. */
  readonly #predicates = new Map<string, Target>();
  #queue: Entry[] = [];
  #queueHead = 0;
  #headTimer: ReturnType<typeof setTimeout> | undefined;
  #headTimerFor: Entry | undefined;
  /** The last stream id delivered here, in stream order. */
  #watermark: string | undefined;
  #waiters: { id: string; resolve: () => void }[] = [];
  /** Messages that arrived while the node reads back what it missed. */
  #recovering: Envelope[] | undefined;
  /** The last stream id taken into the queue (delivered or waiting): where a read-back starts. */
  #accepted: string | undefined;
  /**
   * Messages read back from the stream may still arrive on pub/sub afterwards (another socket):
   * stream messages up to this id are skipped, until a newer one arrives or `until` passes.
   */
  #readBack: { upTo: string; until: number } | undefined;
  /** Counts subscriptions, so a read-back that a newer reconnect overtook gives up. */
  #generation = 0;
  #everSubscribed = false;
  #ready: Promise<void> | undefined;
  #reportTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  // biome-ignore lint/suspicious/noExplicitAny: event listeners of several signatures
  readonly #listeners: [Redis, string, (...args: any[]) => void][] = [];

  constructor(options: RedisClusterOptions = {}) {
    this.#options = options;
    this.nodeId = options.nodeId ?? defaultNodeId();
    // Unique even when two processes are given the same nodeId: a node skips its own echo by it.
    this.#origin = `${this.nodeId.replace(/\s/g, '_')}~${randomBytes(6).toString('base64url')}`;
    this.#prefix = options.prefix ?? 'ssehub';
    this.#stream = `${this.#prefix}:stream`;
    this.#channel = `${this.#prefix}:events`;
    this.#nodeChannel = `${this.#prefix}:node:${this.#origin}`;
    this.#maxEvents = positive(options.history?.maxEvents ?? 10_000, 'history.maxEvents');
    this.#maxAgeMs = positive(options.history?.maxAgeMs ?? 5 * 60_000, 'history.maxAgeMs');
    this.#orderTimeoutMs = positive(options.orderTimeoutMs ?? 1_000, 'orderTimeoutMs');
    this.#commandTimeoutMs = positive(options.commandTimeoutMs ?? 2_000, 'commandTimeoutMs');

    const subscriberOptions: Partial<RedisOptions> = {
      // Resubscribed by hand on 'ready', so the node knows when to read back what it missed.
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      retryStrategy: retry,
    };
    const given = options.redis;
    if (given !== undefined && typeof given !== 'string') {
      this.#command = given;
      this.#ownsCommand = false;
      this.#subscriber = given.duplicate(subscriberOptions);
    } else {
      const url = given ?? 'redis://127.0.0.1:6379';
      this.#command = new Redis(url, {
        // While Redis is down a send must fail at once (and be delivered locally), not queue.
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        commandTimeout: this.#commandTimeoutMs,
        retryStrategy: retry,
      });
      this.#ownsCommand = true;
      this.#subscriber = new Redis(url, subscriberOptions);
    }
    this.#metrics.connected = this.#command.status === 'ready';
    this.#on(this.#command, 'error', (error: unknown) => this.#error(error, 'redis.command'));
    this.#on(this.#command, 'ready', () => {
      this.#metrics.connected = true;
    });
    this.#on(this.#command, 'close', () => {
      this.#metrics.connected = false;
    });
    this.#on(this.#subscriber, 'error', (error: unknown) => this.#error(error, 'redis.subscriber'));
    this.#on(this.#subscriber, 'close', () => this.#lostSubscription());
    this.#on(this.#subscriber, 'ready', () => {
      this.#subscribe().catch((error) => this.#error(error, 'redis.subscribe'));
    });
    this.#on(this.#subscriber, 'message', (channel: string, raw: string) =>
      this.#receive(channel, raw),
    );

    this.history = {
      append: (record, appId) => this.#append(record, appId),
      since: (lastEventId, matches) => this.#since(lastEventId, matches),
      close: () => this.close(),
    };
    this.broker = {
      start: (node) => this.#start(node),
      publish: (message) => this.#publish(message),
      close: () => this.close(),
    };
  }

  /** Resolves once the node can store sends and receives the other nodes' (after `start`). */
  async ready(): Promise<void> {
    if (this.#command.status !== 'ready') {
      await new Promise<void>((resolve) => this.#command.once('ready', () => resolve()));
    }
    await this.#ready;
  }

  /** Counters and state of this node's Redis link. */
  metrics(): RedisMetrics {
    return { ...this.#metrics };
  }

  /** The last stream id delivered on this node, in cluster order. */
  get watermark(): string | undefined {
    return this.#watermark;
  }

  // ---------------------------------------------------------------- broker

  #start(node: BrokerNode): Promise<void> {
    this.#node = node;
    this.#ready ??= new Promise<void>((resolve) => {
      const check = () => {
        if (this.#metrics.subscribed) resolve();
        else if (!this.#closed) unref(setTimeout(check, 20));
      };
      check();
    });
    if (this.#subscriber.status === 'ready') {
      this.#subscribe().catch((error) => this.#error(error, 'redis.subscribe'));
    }
    return this.#ready;
  }

  async #subscribe(): Promise<void> {
    if (this.#node === undefined || this.#closed) return;
    const generation = ++this.#generation;
    this.#recovering = this.#accepted === undefined ? undefined : [];
    await this.#subscriber.subscribe(this.#channel, this.#nodeChannel);
    if (this.#everSubscribed) this.#metrics.resubscribes++;
    else {
      // Where to read back from after a reconnect, even if nothing arrives before it.
      try {
        const top = (await this.#call(() =>
          this.#command.xrevrange(this.#stream, '+', '-', 'COUNT', 1),
        )) as StreamEntry[];
        this.#advance(top[0]?.[0] ?? '0-0');
        this.#accepted ??= this.#watermark;
      } catch {
        // Unknown: a reconnect then resumes from the first event delivered here.
      }
    }
    this.#everSubscribed = true;
    if (this.#recovering !== undefined) await this.#recover(generation);
    if (generation === this.#generation) this.#metrics.subscribed = true;
  }

  /** Reads back, in order, what the stream got while this node was not subscribed. */
  async #recover(generation: number): Promise<void> {
    const from = this.#accepted!;
    let entries: StreamEntry[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        entries = (await this.#call(() =>
          this.#command.xrange(this.#stream, `(${from}`, '+', 'COUNT', this.#maxEvents),
        )) as StreamEntry[];
        break;
      } catch (error) {
        if (generation !== this.#generation) return;
        if (attempt >= 25 || this.#closed) {
          this.#error(error, 'redis.recover');
          break;
        }
        await sleep(200);
      }
    }
    if (generation !== this.#generation || this.#closed) return;
    for (const entry of entries) {
      const fields = entryFields(entry);
      if (fields?.origin === this.#origin) {
        // An own send stored while the echo could not come: its place is here.
        this.#acceptOwn(fields.seq, entry[0]);
        continue;
      }
      const message = fields && toMessage(fields.body, entry[0]);
      if (message !== undefined) {
        this.#metrics.recoveredEvents++;
        this.#enqueue({ kind: 'remote', streamId: entry[0], message });
      } else this.#enqueue({ kind: 'skip', streamId: entry[0] });
    }
    const live = this.#recovering ?? [];
    this.#recovering = undefined;
    const last = entries[entries.length - 1]?.[0] ?? from;
    this.#readBack = { upTo: last, until: Date.now() + 5 * this.#orderTimeoutMs };
    for (const message of live) this.#accept(message);
    this.#drain();
  }

  #lostSubscription(): void {
    // Pending sends keep waiting for their place: the stream read after resubscribing gives it,
    // or `orderTimeoutMs` ends the wait.
    this.#metrics.subscribed = false;
  }

  #receive(channel: string, raw: string): void {
    if (channel !== this.#channel && channel !== this.#nodeChannel) return;
    const message = parseEnvelope(raw);
    if (message === undefined) {
      this.#error(
        new Error('A malformed message arrived on the cluster channel.'),
        'redis.message',
      );
      return;
    }
    if (this.#recovering !== undefined) {
      this.#recovering.push(message);
      return;
    }
    this.#accept(message);
    this.#drain();
  }

  #accept(message: Envelope): void {
    const { streamId } = message;
    const readBack = this.#readBack;
    if (readBack !== undefined && streamId !== '') {
      if (compareStreamIds(streamId, readBack.upTo) <= 0 && Date.now() < readBack.until) return;
      this.#readBack = undefined;
    }
    if (message.origin === this.#origin) {
      this.#acceptOwn(message.seq, streamId);
      return;
    }
    let body: Body;
    try {
      body = JSON.parse(message.body) as Body;
    } catch (error) {
      this.#error(error, 'redis.message');
      return;
    }
    const delivered = toMessage(body, streamId);
    if (delivered === undefined) {
      if (streamId !== '') this.#enqueue({ kind: 'skip', streamId });
    } else this.#enqueue({ kind: 'remote', streamId, message: delivered });
  }

  /** An own send's echo: the hub may deliver it now, and what follows waits for that. */
  #acceptOwn(seq: string, streamId: string): void {
    const send = this.#pending.get(seq);
    if (send !== undefined && !send.settled && streamId !== '') {
      send.id = send.appId ?? streamId;
      this.#settle(send, true);
      this.#enqueue({ kind: 'own', streamId, send });
    } else if (streamId !== '') this.#enqueue({ kind: 'skip', streamId });
  }

  #enqueue(entry: Entry): void {
    this.#queue.push(entry);
    if (entry.streamId !== '') this.#accepted = entry.streamId;
  }

  /** Delivers what waits, in order, up to the first own send the hub has not delivered yet. */
  #drain(): void {
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const entry = queue[this.#queueHead]!;
      if (entry.kind === 'own' && !entry.send.done) {
        this.#armHead(entry);
        this.#wake();
        return;
      }
      this.#queueHead++;
      if (entry.kind === 'remote') {
        this.#metrics.remoteMessages++;
        try {
          this.#node?.deliver(entry.message);
        } catch (error) {
          this.#error(error, 'broker.deliver');
        }
      }
      this.#advance(entry.streamId);
    }
    this.#queue = [];
    this.#queueHead = 0;
    this.#wake();
  }

  #advance(streamId: string): void {
    if (
      streamId !== '' &&
      (this.#watermark === undefined || compareStreamIds(streamId, this.#watermark) > 0)
    )
      this.#watermark = streamId;
  }

  /** An own send at the head: wait for the hub, but never forever. */
  #armHead(entry: Entry & { kind: 'own' }): void {
    if (this.#headTimerFor === entry) return;
    clearTimeout(this.#headTimer);
    this.#headTimerFor = entry;
    const release = () => {
      this.#headTimerFor = undefined;
      this.#finish(entry.send);
      this.#drain();
    };
    // A `sendWhere` is delivered by the hub within the microtasks after it settled.
    this.#headTimer = entry.send.local
      ? setTimeout(release, 0)
      : setTimeout(() => {
          this.#metrics.orderTimeouts++;
          release();
        }, this.#orderTimeoutMs);
    unref(this.#headTimer);
  }

  #wake(): void {
    if (this.#waiters.length === 0 || this.#watermark === undefined) return;
    const watermark = this.#watermark;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (compareStreamIds(waiter.id, watermark) > 0) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Waits (bounded) until this node delivered everything up to `streamId`. */
  #caughtUpTo(streamId: string): Promise<void> | undefined {
    if (!this.#metrics.subscribed || this.#node === undefined) return undefined;
    if (this.#watermark !== undefined && compareStreamIds(streamId, this.#watermark) <= 0)
      return undefined;
    return new Promise<void>((resolve) => {
      const waiter = { id: streamId, resolve };
      this.#waiters.push(waiter);
      unref(
        setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve();
        }, this.#orderTimeoutMs),
      );
    });
  }

  #publish(message: BrokerMessage): Promise<void> | undefined {
    if (message.target.kind !== 'disconnect') {
      const sends = this.#settled.get(message.id);
      const send = sends?.shift();
      if (send !== undefined) {
        if (sends!.length === 0) this.#settled.delete(message.id);
        // Stored and published by the append script; the hub has now delivered it here.
        this.#finish(send);
        this.#drain();
        return undefined;
      }
    }
    // Not in the stream (a disconnect, or a send whose append failed): publish it alone.
    const body = encodeBody(
      message.target as WireTarget,
      message.event,
      message.data,
      message.retry,
      message.target.kind === 'disconnect' ? undefined : message.id,
    );
    if (this.#command.status !== 'ready') {
      this.#metrics.publishFailures++;
      // A send whose append failed was reported then; a disconnect is reported here.
      if (message.target.kind !== 'disconnect') return undefined;
      return Promise.reject(new RedisUnavailableError('Redis is not connected: not published.'));
    }
    return this.#call(() =>
      this.#command.publish(this.#channel, envelope('', this.#origin, '', body)),
    ).then(
      () => undefined,
      (error) => {
        this.#metrics.publishFailures++;
        throw error;
      },
    );
  }

  // ---------------------------------------------------------------- history

  #append(record: Omit<HistoryRecord, 'id'>, appId: string | undefined): Promise<string> {
    if (this.#closed)
      return Promise.reject(new RedisUnavailableError('The cluster link is closed.'));
    if (this.#command.status !== 'ready') {
      this.#metrics.appendFailures++;
      return Promise.reject(new RedisUnavailableError('Redis is not connected: not stored.'));
    }
    const seq = (++this.#seq).toString(36);
    const local = record.target.kind === 'where';
    let target: WireTarget;
    if (record.target.kind === 'where') {
      target = { kind: 'where', node: this.#origin, ref: seq };
      this.#predicates.set(seq, record.target);
      if (this.#predicates.size > this.#maxEvents) {
        this.#predicates.delete(this.#predicates.keys().next().value!);
      }
    } else target = record.target;
    const body = encodeBody(target, record.event, record.data, record.retry, appId);
    // Publish only with a hub attached; `sendWhere` echoes to this node alone.
    const channel = this.#node === undefined ? '' : local ? this.#nodeChannel : this.#channel;
    const ordered = channel !== '';
    return new Promise<string>((resolve, reject) => {
      const send: OwnSend = {
        seq,
        appId,
        local,
        id: undefined,
        settled: false,
        done: false,
        resolve,
        reject,
        timer: undefined,
      };
      this.#pending.set(seq, send);
      this.#script(
        APPEND,
        [this.#stream, this.#appIdKey(appId ?? '')],
        [
          this.#origin,
          seq,
          body,
          String(this.#maxEvents),
          String(this.#maxAgeMs),
          channel,
          appId ?? '',
        ],
      ).then(
        (streamId) => {
          if (send.settled) return;
          send.id = appId ?? String(streamId);
          if (!ordered) {
            this.#settle(send);
            return;
          }
          // The echo decides the order; if it does not come, go on without it.
          send.timer = unref(
            setTimeout(() => {
              if (send.settled) return;
              this.#metrics.orderTimeouts++;
              this.#settle(send);
            }, this.#orderTimeoutMs),
          );
        },
        (error) => {
          this.#pending.delete(seq);
          if (send.settled) return;
          send.settled = true;
          this.#metrics.appendFailures++;
          reject(error);
        },
      );
    });
  }

  /** Lets the hub deliver an own send; `ordered` when its echo put it in the queue. */
  #settle(send: OwnSend, ordered = false): void {
    send.settled = true;
    clearTimeout(send.timer);
    const id = send.id!;
    if (send.local) {
      // The hub never publishes a `sendWhere`; out of the queue nothing waits for it.
      if (!ordered) this.#finish(send);
    } else {
      const list = this.#settled.get(id);
      if (list === undefined) this.#settled.set(id, [send]);
      else list.push(send);
    }
    send.resolve(id);
  }

  #finish(send: OwnSend): void {
    send.done = true;
    this.#pending.delete(send.seq);
  }

  async #since(
    lastEventId: string,
    matches: (record: HistoryRecord) => boolean,
  ): Promise<ReplayResult> {
    if (this.#command.status !== 'ready') {
      throw new RedisUnavailableError('Redis is not connected: no replay.');
    }
    // Live events can only be late here while subscribed; unsubscribed, nothing arrives live.
    const watermark = this.#metrics.subscribed ? this.#watermark : undefined;
    const reply = (await this.#script(
      SINCE,
      [this.#stream, this.#appIdKey(lastEventId)],
      [lastEventId, String(this.#maxEvents + 1), watermark ?? '', String(MAX_SEEN)],
    )) as [number, StreamEntry[]] | [number, string, StreamEntry[], StreamEntry[]];
    if (reply[0] === 0) {
      const newest = (reply[1] as StreamEntry[])[0];
      return { found: false, newestId: newest === undefined ? undefined : clientId(newest) };
    }
    const [, last, after, seen] = reply as [number, string, StreamEntry[], StreamEntry[]];
    if (after.length > this.#maxEvents) {
      // More than a replay may carry: the client refetches instead.
      return { found: false, newestId: clientId(after[after.length - 1]!) };
    }
    // Live events up to the newest replayed one may still be on their way here. Let them arrive
    // first, while the hub holds live events back: it then drops those the client has (`seen`)
    // or gets in the replay, instead of sending them again after it.
    await this.#caughtUpTo(after[after.length - 1]?.[0] ?? last);
    const events: HistoryRecord[] = [];
    for (const entry of after) {
      const fields = entryFields(entry);
      if (fields === undefined) continue;
      const record = toRecord(fields.body, entry[0], (node, ref) =>
        node === this.#origin ? this.#predicates.get(ref) : undefined,
      );
      if (record !== undefined && matches(record)) events.push(record);
    }
    return { found: true, events, seen: seen.map(clientId) };
  }

  #appIdKey(id: string): string {
    return `${this.#prefix}:aid:${id}`;
  }

  // ---------------------------------------------------------------- cluster info

  /**
   * Writes the hub's `info()` (and this link's metrics) every `intervalMs` under a key that
   * expires after `ttlMs`, so `info()` on any node sees this one until it stops reporting.
   * Returns a function that stops reporting; `close()` stops it too.
   */
  report(hub: Pick<Hub, 'info'>, options: ReportOptions = {}): () => void {
    const intervalMs = positive(options.intervalMs ?? 2_000, 'intervalMs');
    const ttlMs = positive(options.ttlMs ?? intervalMs * 3, 'ttlMs');
    const write = () => {
      if (this.#command.status !== 'ready') return;
      const report: NodeReport = {
        nodeId: this.nodeId,
        reportedAt: Date.now(),
        info: hub.info(),
        redis: this.metrics(),
      };
      this.#call(() =>
        this.#command
          .multi()
          .set(this.#nodeKey(this.nodeId), JSON.stringify(report), 'PX', ttlMs)
          .sadd(`${this.#prefix}:nodes`, this.nodeId)
          // The index outlives a cluster whose nodes all died only briefly.
          .pexpire(`${this.#prefix}:nodes`, ttlMs * 2)
          .exec(),
      ).catch((error) => this.#error(error, 'redis.report'));
    };
    clearInterval(this.#reportTimer);
    write();
    const timer = unref(setInterval(write, intervalMs));
    this.#reportTimer = timer;
    return () => {
      clearInterval(timer);
      if (this.#reportTimer === timer) this.#reportTimer = undefined;
    };
  }

  /** The cluster's totals and each live node's figures, as last reported. */
  async info(): Promise<ClusterInfo> {
    const nodesKey = `${this.#prefix}:nodes`;
    const ids = await this.#call(() => this.#command.smembers(nodesKey));
    const raw =
      ids.length === 0
        ? []
        : await this.#call(() => this.#command.mget(ids.map((id) => this.#nodeKey(id))));
    const nodes: NodeReport[] = [];
    const dead: string[] = [];
    raw.forEach((json, i) => {
      if (json === null) dead.push(ids[i]!);
      else nodes.push(JSON.parse(json) as NodeReport);
    });
    // Their reports expired: the nodes are gone.
    if (dead.length > 0) this.#call(() => this.#command.srem(nodesKey, ...dead)).catch(() => {});
    nodes.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    return { nodeCount: nodes.length, totals: sumInfo(nodes.map((n) => n.info)), nodes };
  }

  #nodeKey(id: string): string {
    return `${this.#prefix}:nodeinfo:${id}`;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Stops reporting (removing this node from cluster info), unsubscribes and closes the
   * connections this link opened. Called by `hub.close()`; safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#reportTimer);
    clearTimeout(this.#headTimer);
    for (const send of this.#pending.values()) {
      clearTimeout(send.timer);
      if (!send.settled) {
        send.settled = true;
        send.reject(new RedisUnavailableError('The cluster link is closed.'));
      }
    }
    this.#pending.clear();
    this.#settled.clear();
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
    this.#metrics.subscribed = false;
    if (this.#command.status === 'ready') {
      await this.#call(() =>
        this.#command
          .multi()
          .del(this.#nodeKey(this.nodeId))
          .srem(`${this.#prefix}:nodes`, this.nodeId)
          .exec(),
      ).catch(() => {});
    }
    for (const [client, event, listener] of this.#listeners) client.off(event, listener);
    this.#listeners.length = 0;
    // Keep swallowing errors of connections that are still closing.
    this.#subscriber.on('error', () => {});
    this.#subscriber.disconnect();
    if (this.#ownsCommand) {
      this.#command.on('error', () => {});
      await this.#command.quit().catch(() => this.#command.disconnect());
    }
  }

  // ---------------------------------------------------------------- helpers

  // biome-ignore lint/suspicious/noExplicitAny: event listeners of several signatures
  #on(client: Redis, event: string, listener: (...args: any[]) => void): void {
    client.on(event, listener);
    this.#listeners.push([client, event, listener]);
  }

  /** A command with a deadline: with your own client's offline queue, nothing waits forever. */
  #call<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new RedisUnavailableError('Redis did not answer in time.')),
        this.#commandTimeoutMs,
      );
      run().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  async #script(source: string, keys: string[], args: string[]): Promise<unknown> {
    const sha = scriptSha(source);
    try {
      return await this.#call(() => this.#command.evalsha(sha, keys.length, ...keys, ...args));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.#call(() => this.#command.eval(source, keys.length, ...keys, ...args));
    }
  }

  #error(error: unknown, context: string): void {
    this.#metrics.errors++;
    const report = this.#node?.onError ?? this.#options.onError;
    try {
      report?.(error, context);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }
}

/** Creates a node's link to the cluster (same as `new RedisCluster(options)`). */
export function redisCluster(options?: RedisClusterOptions): RedisCluster {
  return new RedisCluster(options);
}

// ------------------------------------------------------------------ functions

/** At most this many late ids are dropped at a replay seam (a node further behind waits). */
const MAX_SEEN = 1_000;

const shas = new Map<string, string>();

function scriptSha(source: string): string {
  let sha = shas.get(source);
  if (sha === undefined) {
    sha = sha1(source);
    shas.set(source, sha);
  }
  return sha;
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** Reconnect quickly at first, then every 2 s at most. */
function retry(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2_000);
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0))
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
