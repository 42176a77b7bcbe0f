import type { Broker, BrokerInfo, BrokerMessage } from './broker.js';
import {
  type CatalogCheck,
  checkEvent,
  type EventCatalog,
  type StandardSchemaV1,
} from './catalog.js';
import {
  type Connection,
  type ConnectionInfo,
  type ConnectionOwner,
  ConnectionState,
  connectionStateOf,
  type DisconnectReason,
  type SlowClientPolicy,
} from './connection.js';
import {
  assertEventId,
  assertEventName,
  assertRetry,
  checkedEventText,
  encodeComment,
  encodeEvent,
  formatEvent,
  MAX_EVENT_ID_LENGTH,
  serializeData,
  TickEncoder,
  utf8,
} from './encoding.js';
import { SSEError } from './errors.js';
import type { AnyEvents, EventMap, HubEvent } from './event.js';
import {
  type HistoryRecord,
  type HistoryStore,
  MemoryHistory,
  type MemoryHistoryOptions,
} from './history.js';
import {
  collectMetrics,
  Histogram,
  type HistogramSnapshot,
  type MetricFamily,
  type MetricsOptions,
} from './metrics.js';
import {
  type Presence,
  type PresenceChange,
  type PresenceClient,
  type PresenceOptions,
  type PresenceStore,
  presenceEventsFor,
} from './presence.js';
import type { Sink } from './sink.js';
import {
  type ClientFilter,
  type ClientInfo,
  type ClientRef,
  type Target,
  targets,
} from './target.js';

/** The catalog option of a hub whose event map is `M`: one Standard Schema per event name. */
export type EventCatalogOf<M extends EventMap> = {
  readonly [K in keyof M]: StandardSchemaV1<M[K], unknown>;
};

/** Options of a hub. Every one has a default; `new Hub()` is ready to use. */
export interface HubOptions<M extends EventMap = AnyEvents> {
  /**
   * The event catalog: a Standard Schema (zod, valibot, arktype...) per event name, `message` for
   * unnamed events. The hub's event map is inferred from it, and every send (`send`, `sendGroup`,
   * `broadcast`, `sendMany`, `sendWhere`, `sendFilter`, `sendToConnection`, `POST /publish`) is
   * validated first: data that does not match is refused (`EventValidationError`, HTTP 400) and
   * sent nowhere; the schema's output is what is sent. See `defineEvents`.
   */
  events?: EventCatalogOf<M>;
  /**
   * Refuse sends whose event name is not in `events` (`SSEError` `unknown_event`, HTTP 400), so
   * the catalog is the whole contract (default false: unknown names pass unchecked).
   */
  refuseUnknownEvents?: boolean;
  /**
   * Longest life of a stream, in ms (default: none). The stream then ends after what was queued
   * (disconnect reason `lifetime`) with a jittered `retry:`, and the client reconnects and
   * replays from its Last-Event-ID. For platforms that cap request duration, and to rebalance
   * clients across nodes. Each stream's end is spread over the last tenth of the lifetime.
   */
  maxStreamMs?: number;
  /**
   * Longest silence on a stream: a comment is written to a connection that has been quiet for
   * three quarters of this (default 30 000 ms). Keep it below every idle timeout on the
   * path (Bun's default is 10 s).
   */
  heartbeatMs?: number;
  /** Close a connection whose transport has not drained for this long (default 90 000 ms). */
  idleTimeoutMs?: number;
  /** How often the stall sweep runs (default 5 000 ms). */
  sweepIntervalMs?: number;
  /** The `retry:` sent to each new connection, in ms (default 3 000); see `retryJitter`. */
  retryMs?: number;
  /**
   * Spread of the `retry:` each connection gets, so that clients dropped at once (a node
   * restart) do not return at once: uniform between `retryMs` and `retryMs × (1 + retryJitter)`
   * (default 0.5; 0 sends exactly `retryMs`).
   */
  retryJitter?: number;
  /** Events a connection may have queued while its transport is busy (default 100). */
  maxQueuedEvents?: number;
  /** Bytes a connection may have queued while its transport is busy (default 1 MiB). */
  maxQueuedBytes?: number;
  /** What happens to a client that cannot keep up (default `disconnect`: it reconnects and replays). */
  slowClientPolicy?: SlowClientPolicy;
  /**
   * Where recent events are kept for Last-Event-ID replay: a store (e.g. Redis), bounds for the
   * default in-memory history, or `false` to keep none (every reconnect then gets `reset`).
   */
  history?: HistoryStore | MemoryHistoryOptions | false;
  /**
   * Named client filters for `sendFilter`. Register the same names on every hub of a cluster:
   * unlike `sendWhere`'s function, a named filter and its JSON arguments travel between nodes.
   */
  filters?: Readonly<Record<string, ClientFilter>>;
  /**
   * A broker that carries sends to the hubs of other processes (e.g. `@ssehub/redis`). While its
   * `status()` is `down`, sends and disconnects are refused with `SSEError` `broker_unavailable`
   * and delivered nowhere (see `Broker`).
   */
  broker?: Broker;
  /** Who is online: `join` / `leave` events for the groups listed, and the grace period. */
  presence?: PresenceOptions;
  /**
   * Keeps presence cluster-wide (e.g. `RedisBackplane`'s `presence`). Without one,
   * `hub.presence()` answers for this hub's clients only.
   */
  presenceStore?: PresenceStore;
  /** What `/metrics` and `hub.metrics()` include (per-group series are off by default). */
  metrics?: MetricsOptions;
  /** A client connected; the view is read-only and stays current (see `ConnectionInfo`). */
  onConnect?: (connection: ConnectionInfo) => void;
  /** A connection ended, and why. */
  onDisconnect?: (connection: ConnectionInfo, reason: DisconnectReason) => void;
  /** Something failed that the hub survived (a store, a broker, a hook). */
  onError?: (error: unknown, context: string) => void;
  /** Clock, for tests. */
  now?: () => number;
}

/** Options of one connection. */
export interface ConnectOptions {
  readonly group: string;
  readonly id: string;
  /** The client's Last-Event-ID: events after it are replayed before live events. */
  readonly lastEventId?: string | undefined;
  /** Attached to the connection (claims, roles); visible to predicates and hooks. */
  readonly meta?: Readonly<Record<string, unknown>> | undefined;
  /** Extra fields for the `connected` event's data. */
  readonly connectedData?: Readonly<Record<string, unknown>> | undefined;
  readonly remoteAddress?: string | undefined;
  /**
   * When the credentials this stream was opened with expire, in ms since the epoch (a JWT's
   * `exp` × 1000). The hub then ends the stream, reason `expired`, after flushing what was
   * queued. Only connections with an expiry get a timer.
   */
  readonly expiresAt?: number | undefined;
}

/** Counters since the hub started. */
export interface HubCounters {
  /** Events accepted by send, group send, broadcast, list and predicate sends. */
  eventsSent: number;
  /** Deliveries: each event counted once per connection it reached. */
  eventsDelivered: number;
  bytesWritten: number;
  /** Events dropped by the drop-oldest policy. */
  eventsDropped: number;
  slowDisconnects: number;
  stalledDisconnects: number;
  /** Connections ended because their token expired (`ConnectOptions.expiresAt`). */
  expiredDisconnects: number;
  /** Connections ended at their maximum lifetime (`HubOptions.maxStreamMs`). */
  lifetimeDisconnects: number;
  /** Sends refused by the event catalog (data not matching its schema, unknown name). */
  eventsRejected: number;
  eventsReplayed: number;
  /** `reset` events sent: Last-Event-ID not in the history. */
  resets: number;
  heartbeats: number;
  connectionsOpened: number;
  connectionsClosed: number;
}

/** The hub's histograms (see `HubInfo.histograms`). */
export interface HubHistograms {
  /** Ms from a send (or a heartbeat, replay) to its write reaching the transport. */
  writeDelayMs: HistogramSnapshot;
  /** Chunks (events, heartbeats) merged into each write to a transport. */
  queueDepth: HistogramSnapshot;
  /** Events replayed to each connection that came with a Last-Event-ID found in the history. */
  replaySize: HistogramSnapshot;
}

/** A snapshot of the hub: groups, clients, connections and counters. */
export interface HubInfo {
  groupCount: number;
  clientCount: number;
  connectionCount: number;
  /** Clients per group. */
  groups: Record<string, number>;
  counters: HubCounters;
  /** Connections ended, by reason. */
  disconnects: Record<DisconnectReason, number>;
  histograms: HubHistograms;
  /** The broker's state, with a broker (`HubOptions.broker`). */
  broker?: BrokerInfo;
}

const HEARTBEAT = encodeComment();
/** The meta of every connection opened without any: one frozen object, not one per connection. */
const NO_META: Readonly<Record<string, unknown>> = Object.freeze({});
/** setTimeout's largest delay (2^31 − 1 ms); a larger one fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;
let hubCounter = 0;

/**
 * The hub: connections keyed by client `{ group, id }`, and the sends that reach
 * them. Several hubs may live in one process. Nothing has to be started: timers run while there
 * are connections and stop with the last one or with `close()`.
 */
export class Hub<M extends EventMap = AnyEvents> {
  /** group → client id → that client's connections (usually one: an array, not a Set). */
  readonly #groups = new Map<string, Map<string, ConnectionState[]>>();
  readonly #connections = new Set<ConnectionState>();
  /** Unicast bytes for connections written this tick (see `#deliverToClient`). */
  readonly #tickEncoder = new TickEncoder();
  readonly #history: HistoryStore;
  readonly #broker: Broker | undefined;
  readonly #owner: ConnectionOwner;
  readonly #heartbeatMs: number;
  readonly #idleTimeoutMs: number;
  readonly #sweepIntervalMs: number;
  readonly #retryMs: number;
  readonly #retryJitter: number;
  readonly #maxStreamMs: number | undefined;
  readonly #catalog: CatalogCheck | undefined;
  /** Keeps sends in order while an asynchronous schema validates one. */
  #checkTail: Promise<unknown> = Promise.resolve();
  #pendingChecks = 0;
  readonly #options: HubOptions;
  readonly #filters: Readonly<Record<string, ClientFilter>>;
  readonly #prefix = `${(hubCounter++).toString(36)}.`;
  #connectionSeq = 0;
  #clientCount = 0;
  /** Numbers the list sends, to reach each connection of a list once (`listStamp`). */
  #listSeq = 0;
  #dirty: ConnectionState[] = [];
  #flushScheduled = false;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** Keeps sends in order while an asynchronous history store assigns ids. */
  #tail: Promise<unknown> = Promise.resolve();
  #pendingAsync = 0;
  #brokerRefused = 0;
  #closed = false;
  readonly #presenceStore: PresenceStore | undefined;
  readonly #presenceEvents: (group: string) => boolean;
  readonly #graceMs: number;
  /** Clients whose last connection here closed, within the grace period: group -> id -> timer. */
  readonly #leaving = new Map<
    string,
    Map<string, { timer: ReturnType<typeof setTimeout>; meta: Readonly<Record<string, unknown>> }>
  >();
  readonly #disconnects: Record<DisconnectReason, number> = {
    'client-closed': 0,
    kicked: 0,
    slow: 0,
    stalled: 0,
    expired: 0,
    lifetime: 0,
    shutdown: 0,
    error: 0,
  };
  /** 1 ms to 16 s. */
  readonly #writeDelay = new Histogram(15);
  /** 1 to 1 024 chunks (maxQueuedEvents is 100 by default). */
  readonly #queueDepth = new Histogram(11);
  /** 1 to 8 192 events. */
  readonly #replaySize = new Histogram(14);
  readonly #counters: HubCounters = {
    eventsSent: 0,
    eventsDelivered: 0,
    bytesWritten: 0,
    eventsDropped: 0,
    slowDisconnects: 0,
    stalledDisconnects: 0,
    expiredDisconnects: 0,
    lifetimeDisconnects: 0,
    eventsRejected: 0,
    eventsReplayed: 0,
    resets: 0,
    heartbeats: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
  };

  constructor(options: HubOptions<M> = {}) {
    this.#options = options as HubOptions;
    this.#filters = options.filters ?? {};
    this.#heartbeatMs = positive(options.heartbeatMs ?? 30_000, 'heartbeatMs');
    this.#idleTimeoutMs = positive(options.idleTimeoutMs ?? 90_000, 'idleTimeoutMs');
    this.#sweepIntervalMs = positive(options.sweepIntervalMs ?? 5_000, 'sweepIntervalMs');
    this.#retryMs = options.retryMs ?? 3_000;
    assertRetry(this.#retryMs);
    this.#retryJitter = options.retryJitter ?? 0.5;
    if (!(Number.isFinite(this.#retryJitter) && this.#retryJitter >= 0))
      throw new RangeError(`retryJitter must be a number >= 0, got ${options.retryJitter}`);
    this.#maxStreamMs =
      options.maxStreamMs === undefined ? undefined : positive(options.maxStreamMs, 'maxStreamMs');
    if (options.events !== undefined) {
      const events = options.events as EventCatalog;
      for (const [name, schema] of Object.entries(events)) {
        if (typeof schema?.['~standard']?.validate !== 'function')
          throw new TypeError(
            `events.${name} is not a Standard Schema (it has no ~standard.validate).`,
          );
      }
      this.#catalog = { events, refuseUnknown: options.refuseUnknownEvents === true };
    } else if (options.refuseUnknownEvents) {
      throw new TypeError('refuseUnknownEvents needs an event catalog (events).');
    }
    const history = options.history;
    this.#history =
      history === false
        ? new MemoryHistory({ maxEvents: 0 })
        : history !== undefined && 'append' in history
          ? history
          : new MemoryHistory(history);
    const now = options.now ?? Date.now;
    const counters = this.#counters;
    const maxQueuedEvents = positive(options.maxQueuedEvents ?? 100, 'maxQueuedEvents');
    const maxQueuedBytes = positive(options.maxQueuedBytes ?? 1024 * 1024, 'maxQueuedBytes');
    const writeDelay = this.#writeDelay;
    const queueDepth = this.#queueDepth;
    this.#owner = {
      stamp: 0,
      observeWrite: (delayMs, depth) => {
        writeDelay.observe(delayMs);
        queueDepth.observe(depth);
      },
      maxQueuedEvents,
      maxQueuedBytes,
      policy: options.slowClientPolicy ?? 'disconnect',
      now,
      scheduleFlush: (connection) => {
        this.#dirty.push(connection);
        if (!this.#flushScheduled) {
          this.#flushScheduled = true;
          queueMicrotask(this.#flushAll);
        }
      },
      release: (connection, reason, error) => this.#release(connection, reason, error),
      countWrite: (bytes) => {
        counters.bytesWritten += bytes;
      },
      countDropped: (events) => {
        counters.eventsDropped += events;
      },
    };
    this.#presenceEvents = presenceEventsFor(options.presence?.events);
    this.#graceMs = nonNegative(options.presence?.graceMs ?? 5_000, 'presence.graceMs');
    this.#presenceStore = options.presenceStore;
    this.#presenceStore?.start({
      snapshot: () => this.#presenceSnapshot(),
      changed: (change) => this.#presenceChanged(change),
      onError: (error, context) => this.#error(error, context),
    });
    this.#broker = options.broker;
    if (this.#broker) {
      const started = this.#broker.start({
        deliver: (message) => this.#deliverRemote(message),
        onError: (error, context) => this.#error(error, context),
      });
      if (started instanceof Promise) started.catch((error) => this.#error(error, 'broker.start'));
    }
  }

  // ---------------------------------------------------------------- connections

  /**
   * Opens a connection for (group, id) on an adapter's sink. Writes `retry:` and the `connected`
   * event at once, then (with `lastEventId`) every retained event after it that this client would
   * have received, then live events: no gap and no duplicate at the seam.
   */
  connect(sink: Sink, options: ConnectOptions): Connection {
    if (this.#closed) throw new SSEError('hub_closed', 'The hub is closed.');
    const { group, id, expiresAt } = options;
    if (expiresAt !== undefined && !Number.isFinite(expiresAt)) {
      throw new TypeError(
        `expiresAt must be a finite number of ms since the epoch, got ${expiresAt}`,
      );
    }
    const connection = new ConnectionState(
      group,
      id,
      options.meta ?? NO_META,
      options.remoteAddress,
      sink,
      this.#owner,
      this.#prefix + (++this.#connectionSeq).toString(36),
    );
    let clients = this.#groups.get(group);
    if (clients === undefined) this.#groups.set(group, (clients = new Map()));
    let connections = clients.get(id);
    if (connections === undefined) {
      clients.set(id, (connections = [connection]));
      this.#clientCount++;
    } else connections.push(connection);
    this.#connections.add(connection);
    this.#counters.connectionsOpened++;
    if (this.#connections.size === 1) this.#startTimers();

    this.#owner.stamp = connection.openedAt;
    // Text, like unicast: the connection's first write is one buffer with no UTF-8 copy first.
    connection.push(this.#jitteredRetry());
    const connected = formatEvent({
      event: 'connected',
      data: { ...options.connectedData, id, group, connectionId: connection.connectionId },
    });
    connection.push(NON_ASCII.test(connected) ? utf8(connected) : connected);
    if (options.lastEventId !== undefined) this.#replay(connection, options.lastEventId);
    if (expiresAt !== undefined) this.#expireAt(connection, expiresAt);
    if (this.#maxStreamMs !== undefined) this.#endAtLifetime(connection, this.#maxStreamMs);
    this.#presenceOpened(group, id, connections);
    this.#hook('onConnect', () => this.#options.onConnect?.(connection.info));
    return connection;
  }

  // ---------------------------------------------------------------- presence

  #presenceOpened(group: string, id: string, connections: readonly ConnectionState[]): void {
    if (connections.length === 1) {
      const leaving = this.#leaving.get(group);
      const pending = leaving?.get(id);
      if (pending !== undefined) {
        // Back within the grace period: still present, no leave and no join.
        clearTimeout(pending.timer);
        leaving!.delete(id);
        if (leaving!.size === 0) this.#leaving.delete(group);
      } else if (this.#presenceStore === undefined && this.#presenceEvents(group)) {
        this.#presenceChanged({ kind: 'join', group, id });
      }
    }
    this.#presenceStore?.put(group, id, connections.length, firstMeta(connections));
  }

  /** After `connection` left its client's list (`connections`: the others, if any are left). */
  #presenceClosed(
    connection: ConnectionState,
    connections: readonly ConnectionState[] | undefined,
  ): void {
    const { group, id } = connection;
    const store = this.#presenceStore;
    if (connections !== undefined && connections.length > 0) {
      store?.put(group, id, connections.length, firstMeta(connections));
      return;
    }
    if (this.#closed || (store === undefined && !this.#presenceEvents(group))) return;
    store?.put(group, id, 0, connection.meta);
    const timer = unref(
      setTimeout(() => {
        const leaving = this.#leaving.get(group);
        leaving?.delete(id);
        if (leaving?.size === 0) this.#leaving.delete(group);
        if (store) store.remove(group, id);
        else this.#presenceChanged({ kind: 'leave', group, id });
      }, this.#graceMs),
    );
    let leaving = this.#leaving.get(group);
    if (leaving === undefined) this.#leaving.set(group, (leaving = new Map()));
    leaving.set(id, { timer, meta: connection.meta });
  }

  #presenceChanged(change: PresenceChange): void {
    if (this.#closed || !this.#presenceEvents(change.group)) return;
    this.#publish({ kind: 'group', group: change.group }, {
      event: change.kind,
      data: { group: change.group, id: change.id },
    } as HubEvent<M>).catch((error) => this.#error(error, `presence ${change.kind}`));
  }

  #presenceSnapshot(): { group: string; id: string; connections: number; meta: unknown }[] {
    const out: { group: string; id: string; connections: number; meta: unknown }[] = [];
    for (const [group, clients] of this.#groups)
      for (const [id, connections] of clients)
        out.push({ group, id, connections: connections.length, meta: firstMeta(connections) });
    for (const [group, leaving] of this.#leaving)
      for (const [id, { meta }] of leaving) out.push({ group, id, connections: 0, meta });
    return out;
  }

  /**
   * Who is online in `group`: each client with its connection count and the meta the app attached
   * to its first connection, sorted by id. With a presence store (`RedisBackplane`), on every
   * node of the cluster; otherwise on this hub. A client whose last connection closed stays, with
   * 0 connections, for the grace period (`presence.graceMs`).
   */
  async presence(group: string): Promise<Presence> {
    let clients: PresenceClient[];
    if (this.#presenceStore) clients = await this.#presenceStore.list(group);
    else {
      clients = [];
      for (const [id, connections] of this.#groups.get(group) ?? [])
        clients.push({ id, connections: connections.length, meta: firstMeta(connections) });
      for (const [id, { meta }] of this.#leaving.get(group) ?? [])
        clients.push({ id, connections: 0, meta });
    }
    clients.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { group, count: clients.length, clients };
  }

  #replay(connection: ConnectionState, lastEventId: string): void {
    connection.held = [];
    const finish = (result: Awaited<ReturnType<HistoryStore['since']>>) => {
      if (connection.isClosed) return;
      this.#owner.stamp = this.#owner.now();
      const replayed = new Set<string>();
      if (result.found) {
        for (const id of result.seen ?? []) replayed.add(id);
        const chunks: Uint8Array[] = [];
        for (const record of result.events) {
          chunks.push((record.bytes ??= encodeRecord(record)));
          replayed.add(record.id);
        }
        connection.pushReplay(chunks);
        this.#counters.eventsReplayed += result.events.length;
        this.#replaySize.observe(result.events.length);
      } else {
        this.#counters.resets++;
        connection.push(
          encodeEvent({
            event: 'reset',
            // The newest id (or an empty one) so the next reconnect replays from here.
            id: result.newestId ?? '',
            data: { lastEventId, reason: 'history-gap' },
          }),
        );
      }
      connection.endReplay(replayed);
    };
    const matches = (record: HistoryRecord) => {
      try {
        return targets(record.target, connection.info, this.#filters);
      } catch (error) {
        this.#error(error, 'replay filter');
        return false;
      }
    };
    let result: ReturnType<HistoryStore['since']>;
    try {
      result = this.#history.since(lastEventId, matches);
    } catch (error) {
      this.#error(error, 'history.since');
      finish({ found: false, newestId: undefined });
      return;
    }
    if (result instanceof Promise) {
      result.then(finish, (error) => {
        this.#error(error, 'history.since');
        finish({ found: false, newestId: undefined });
      });
    } else finish(result);
  }

  /**
   * Ends `connection` with reason `expired` at `expiresAt` (ms since the epoch). The timer is
   * re-armed past setTimeout's 24.8-day ceiling (a longer delay would fire at once), re-checks
   * the clock when it fires, never keeps the process alive, and is cleared when the connection
   * ends first.
   */
  #expireAt(connection: ConnectionState, expiresAt: number): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      const left = expiresAt - this.#owner.now();
      // Even an expiry already past waits one turn, so the adapter finishes wiring the stream.
      if (left <= 0 && timer !== undefined) {
        timer = undefined;
        this.#release(connection, 'expired');
        return;
      }
      timer = unref(setTimeout(arm, Math.min(Math.max(left, 0), MAX_TIMEOUT_MS)));
    };
    arm();
    connection.onClose(() => clearTimeout(timer));
  }

  /** The `retry:` line for one connection: spread by `retryJitter` (see `HubOptions`). */
  #jitteredRetry(): string {
    // Text (ASCII), queued like unicast text (see `Queued`).
    return `retry: ${Math.round(this.#retryMs * (1 + this.#retryJitter * Math.random()))}\n\n`;
  }

  /**
   * Ends `connection` (reason `lifetime`) between 0.9 and 1 × `maxStreamMs` after it opened, so
   * streams opened together do not all end together. A fresh jittered `retry:` goes out last.
   */
  #endAtLifetime(connection: ConnectionState, maxStreamMs: number): void {
    const timer = unref(
      setTimeout(
        () => {
          if (connection.isClosed) return;
          connection.push(this.#jitteredRetry());
          this.#release(connection, 'lifetime');
        },
        Math.min(maxStreamMs * (1 - 0.1 * Math.random()), MAX_TIMEOUT_MS),
      ),
    );
    connection.onClose(() => clearTimeout(timer));
  }

  #release(connection: ConnectionState, reason: DisconnectReason, error?: unknown): void {
    if (connection.isClosed) return;
    // The server ends the stream: what was accepted for it still goes out first.
    if (
      reason === 'kicked' ||
      reason === 'shutdown' ||
      reason === 'expired' ||
      reason === 'lifetime'
    )
      connection.flush(true);
    connection.isClosed = true;
    connection.queue = [];
    connection.queuedBytes = 0;
    connection.held = undefined;
    const clients = this.#groups.get(connection.group);
    const connections = clients?.get(connection.id);
    const at = connections?.indexOf(connection) ?? -1;
    let others: ConnectionState[] | undefined;
    if (at !== -1) {
      if (connections!.length === 1) {
        clients!.delete(connection.id);
        this.#clientCount--;
        if (clients!.size === 0) this.#groups.delete(connection.group);
      } else {
        connections!.splice(at, 1);
        others = connections;
      }
    }
    this.#connections.delete(connection);
    this.#presenceClosed(connection, others);
    const counters = this.#counters;
    counters.connectionsClosed++;
    this.#disconnects[reason]++;
    if (reason === 'slow') counters.slowDisconnects++;
    else if (reason === 'stalled') counters.stalledDisconnects++;
    else if (reason === 'expired') counters.expiredDisconnects++;
    else if (reason === 'lifetime') counters.lifetimeDisconnects++;
    if (this.#connections.size === 0) this.#stopTimers();
    if (reason !== 'client-closed' && reason !== 'error') {
      try {
        connection.sink.close(reason);
      } catch (closeError) {
        this.#error(closeError, 'sink.close');
      }
    }
    if (error !== undefined) this.#error(error, 'transport');
    const listeners = connection.closeListeners;
    connection.closeListeners = undefined;
    if (listeners)
      for (const listener of listeners) this.#hook('connection.onClose', () => listener(reason));
    this.#hook('onDisconnect', () => this.#options.onDisconnect?.(connection.info, reason));
  }

  /**
   * Closes every connection of the client `{ group, id }`, on every node; the browser
   * reconnects. Returns the connections closed here. With a broker that is down, throws
   * `SSEError` `broker_unavailable` and closes nothing.
   */
  disconnect(client: ClientRef): number {
    assertClientRef(client, 'disconnect');
    const refused = this.#brokerDown();
    if (refused) throw refused;
    const { group, id } = client;
    const count = this.#disconnectLocal(group, id);
    this.#publishRemote({
      id: '',
      target: { kind: 'disconnect', group, id },
      event: undefined,
      data: '',
      retry: undefined,
    });
    return count;
  }

  #disconnectLocal(group: string, id: string): number {
    const connections = this.#groups.get(group)?.get(id);
    if (connections === undefined) return 0;
    const list = connections.slice();
    for (const connection of list) this.#release(connection, 'kicked');
    return list.length;
  }

  // ---------------------------------------------------------------- sends

  /**
   * Unicast: every connection of the client `{ group, id }`. Resolves with the connections
   * reached here.
   */
  send(client: ClientRef, event: HubEvent<M>): Promise<number> {
    try {
      assertClientRef(client, 'send');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#publish(new ClientTarget(client.group, client.id), event);
  }

  /** Every client of a group. */
  sendGroup(group: string, event: HubEvent<M>): Promise<number> {
    return this.#publish({ kind: 'group', group }, event);
  }

  /** Every client (broadcast). */
  broadcast(event: HubEvent<M>): Promise<number> {
    return this.#publish({ kind: 'all' }, event);
  }

  /** Each listed client `{ group, id }`; a client listed twice gets the event once. */
  sendMany(clients: readonly ClientRef[], event: HubEvent<M>): Promise<number> {
    let copy: ClientRef[];
    try {
      if (!Array.isArray(clients)) {
        throw new TypeError(
          `hub.sendMany() takes a list of clients { group, id }, got ${describeValue(clients)}.`,
        );
      }
      copy = clients.map((client) => {
        assertClientRef(client, 'sendMany');
        return { group: client.group, id: client.id };
      });
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#publish({ kind: 'clients', clients: copy }, event);
  }

  /**
   * The clients the predicate accepts (a conditional push). The predicate runs in this
   * process only: it also filters replay here, but it is not carried to other nodes.
   */
  sendWhere(predicate: (client: ClientInfo) => boolean, event: HubEvent<M>): Promise<number> {
    return this.#publish({ kind: 'where', predicate }, event);
  }

  /**
   * The clients a named filter (`HubOptions.filters`) accepts with these JSON arguments. Works
   * across a cluster, and replay re-applies the filter to the reconnecting client.
   */
  sendFilter(filter: string, args: unknown, event: HubEvent<M>): Promise<number> {
    if (this.#filters[filter] === undefined) {
      return Promise.reject(
        new SSEError('invalid_target', `No filter named ${JSON.stringify(filter)} is registered.`),
      );
    }
    return this.#publish({ kind: 'filter', filter, args }, event);
  }

  /**
   * Writes an event to one connection only (a connection that hooks were given), e.g. a marker
   * for that tab. It is not kept in the history and, unless the event has an `id`, carries none,
   * so the browser's Last-Event-ID stays where the client's events left it. While the history is
   * replayed to the connection it waits, like live events, until the replay is written. Returns
   * whether the connection was open; throws `SSEError` for an event that cannot be encoded.
   */
  sendToConnection(connection: ConnectionInfo, event: HubEvent<M>): boolean {
    const state = connectionStateOf(connection);
    if (state === undefined || state.owner !== this.#owner) {
      throw new TypeError(
        'hub.sendToConnection() takes a connection that this hub gave to a hook (onConnect, onDisconnect, sendWhere).',
      );
    }
    const {
      event: name,
      data,
      id,
      retry,
    } = this.#checkNow(event) as {
      event?: string;
      data: unknown;
      id?: string;
      retry?: number;
    };
    const bytes = encodeEvent({ event: name, data, id, retry });
    if (state.isClosed) return false;
    this.#owner.stamp = this.#owner.now();
    // Held behind a running replay under an id no replayed event has ('' is never one).
    state.enqueue(bytes, id ?? '');
    return true;
  }

  /** `sendToConnection`'s check: synchronous, so an asynchronous schema is refused there. */
  #checkNow(event: HubEvent<M>): HubEvent<M> {
    if (this.#catalog === undefined) return event;
    let checked: HubEvent<M> | Promise<HubEvent<M>>;
    try {
      checked = checkEvent(this.#catalog, event);
    } catch (error) {
      this.#counters.eventsRejected++;
      throw error;
    }
    if (checked instanceof Promise) {
      checked.catch(() => {});
      throw new TypeError(
        'hub.sendToConnection() validates synchronously: this event has an asynchronous schema; use a send that returns a promise.',
      );
    }
    return checked;
  }

  #publish(target: Target, event: HubEvent<M>): Promise<number> {
    if (this.#closed) return Promise.reject(new SSEError('hub_closed', 'The hub is closed.'));
    const catalog = this.#catalog;
    if (catalog === undefined) return this.#publishChecked(target, event);
    let checked: HubEvent<M> | Promise<HubEvent<M>>;
    try {
      checked = checkEvent(catalog, event);
    } catch (error) {
      this.#counters.eventsRejected++;
      return Promise.reject(error);
    }
    if (!(checked instanceof Promise) && this.#pendingChecks === 0)
      return this.#publishChecked(target, checked);
    // Handled below, once earlier checks are done; this keeps an early rejection from being reported.
    if (checked instanceof Promise) checked.catch(() => {});
    // An asynchronous schema: later sends wait for it, so events keep the order of the sends.
    this.#pendingChecks++;
    const started = this.#checkTail
      .then(() => checked)
      .then(
        (valid) => {
          this.#pendingChecks--;
          return { delivered: this.#publishChecked(target, valid) };
        },
        (error: unknown) => {
          this.#pendingChecks--;
          this.#counters.eventsRejected++;
          throw error;
        },
      );
    this.#checkTail = started.catch(() => {});
    return started.then((outcome) => outcome.delivered);
  }

  #publishChecked(target: Target, event: HubEvent<M>): Promise<number> {
    if (this.#closed) return Promise.reject(new SSEError('hub_closed', 'The hub is closed.'));
    let partial: Omit<HistoryRecord, 'id'>;
    try {
      partial = prepare(
        target,
        event as { event?: string; data: unknown; id?: string; retry?: number },
      );
    } catch (error) {
      return Promise.reject(error);
    }
    const appId = (event as { id?: string }).id;
    // Decided before anything is delivered: a refused send reached no one, so a retry cannot
    // duplicate it.
    const refused = this.#brokerDown();
    if (refused) return Promise.reject(refused);
    let assigned: string | Promise<string>;
    try {
      assigned = this.#history.append(partial, appId);
    } catch (error) {
      if (this.#broker) return Promise.reject(this.#refuse(error));
      this.#error(error, 'history.append');
      return resolved(this.#deliverNew(partial, appId ?? this.#fallbackId()));
    }
    if (typeof assigned === 'string' && this.#pendingAsync === 0) {
      // Data serialised to JSON is one line: only a string needs scanning for line breaks.
      const oneLine = typeof (event as { data: unknown }).data !== 'string';
      return resolved(this.#deliverNew(partial, assigned, oneLine));
    }
    // An asynchronous store: deliver in the order of the sends, each once its id is known.
    this.#pendingAsync++;
    const id = Promise.resolve(assigned).then(
      (resolved) => ({ resolved }),
      (error: unknown) => {
        // With a broker the shared store's append is where a send commits: refuse it.
        if (this.#broker) return { refused: this.#refuse(error) };
        this.#error(error, 'history.append');
        return { resolved: appId ?? this.#fallbackId() };
      },
    );
    const delivered = this.#tail
      .then(() => id)
      .then((outcome) => {
        this.#pendingAsync--;
        if ('refused' in outcome) throw outcome.refused;
        return this.#deliverNew(partial, outcome.resolved);
      });
    this.#tail = delivered.catch(() => {});
    return delivered;
  }

  /** The refusal while the broker is down (counted), or `undefined` when it is up. */
  #brokerDown(): SSEError | undefined {
    const broker = this.#broker;
    if (broker === undefined) return undefined;
    let state: 'up' | 'down';
    try {
      state = broker.status().state;
    } catch (error) {
      return this.#refuse(error);
    }
    return state === 'up' ? undefined : this.#refuse(undefined);
  }

  #refuse(cause: unknown): SSEError {
    this.#brokerRefused++;
    return new SSEError(
      'broker_unavailable',
      'The broker is unavailable: nothing was delivered, on this node or any other. Retry later.',
      cause === undefined ? undefined : { cause },
    );
  }

  #fallbackId(): string {
    return `${this.#prefix}local-${Date.now().toString(36)}-${(++this.#connectionSeq).toString(36)}`;
  }

  /** `oneLine`: the data is known to have no line break (see `checkedEventText`). */
  #deliverNew(partial: Omit<HistoryRecord, 'id'>, id: string, oneLine = false): number {
    const record = partial as HistoryRecord;
    record.id = id;
    this.#counters.eventsSent++;
    // The one clock read a send adds: connections whose queue this send opens note it, and their
    // write observes the delay (writeDelayMs).
    this.#owner.stamp = this.#owner.now();
    const target = record.target;
    const reached =
      target.kind === 'client'
        ? this.#deliverToClient(target.group, target.id, record, oneLine)
        : this.#deliver(target, (record.bytes ??= encodeRecord(record)), id);
    if (this.#broker !== undefined && target.kind !== 'where') {
      this.#publishRemote({
        id,
        target,
        event: record.event,
        data: record.data,
        retry: record.retry,
      });
    }
    return reached;
  }

  /**
   * Unicast, the hot path of notifications: nothing is encoded for a client that is not connected
   * here (replay encodes from the history). For a client with one connection that writes this
   * tick, the event is encoded straight into the hub's tick blocks (`TickEncoder`, reused once the
   * flush wrote them): no buffer of its own, and nothing of the send (record, text) stays alive
   * until the flush but those bytes.
   */
  #deliverToClient(
    group: string,
    clientId: string,
    record: HistoryRecord,
    oneLine: boolean,
  ): number {
    const connections = this.#groups.get(group)?.get(clientId);
    if (connections === undefined) return 0;
    const count = connections.length;
    const only = count === 1 ? connections[0]! : undefined;
    if (only !== undefined && only.blockedSince === 0 && only.held === undefined) {
      only.push(record.bytes ?? this.#tickEncoder.encode(checkedEventText(record, oneLine)));
    } else {
      const bytes = (record.bytes ??= encodeRecord(record));
      for (let i = 0; i < count; i++) connections[i]!.enqueue(bytes, record.id);
    }
    this.#counters.eventsDelivered += count;
    return count;
  }

  #deliver(target: Target, bytes: Uint8Array, id: string): number {
    let reached = 0;
    switch (target.kind) {
      case 'all':
        for (const connection of this.#connections) {
          connection.enqueue(bytes, id);
          reached++;
        }
        break;
      case 'group': {
        const clients = this.#groups.get(target.group);
        if (clients)
          for (const connections of clients.values())
            for (const connection of connections) {
              connection.enqueue(bytes, id);
              reached++;
            }
        break;
      }
      case 'client': {
        const connections = this.#groups.get(target.group)?.get(target.id);
        if (connections)
          for (const connection of connections) {
            connection.enqueue(bytes, id);
            reached++;
          }
        break;
      }
      case 'clients': {
        // One pass over the list; a client listed twice is skipped by its connections' stamp.
        const stamp = ++this.#listSeq;
        const groups = this.#groups;
        let lastGroup: string | undefined;
        let clients: Map<string, ConnectionState[]> | undefined;
        for (const client of target.clients) {
          if (client.group !== lastGroup) {
            lastGroup = client.group;
            clients = groups.get(lastGroup);
          }
          const connections = clients?.get(client.id);
          if (connections === undefined || connections[0]!.listStamp === stamp) continue;
          for (const connection of connections) {
            connection.listStamp = stamp;
            connection.enqueue(bytes, id);
            reached++;
          }
        }
        break;
      }
      case 'where':
      case 'filter':
        for (const connection of this.#connections) {
          let accepted = false;
          try {
            accepted = targets(target, connection.info, this.#filters);
          } catch (error) {
            this.#error(error, `${target.kind} predicate`);
          }
          if (accepted) {
            connection.enqueue(bytes, id);
            reached++;
          }
        }
        break;
    }
    this.#counters.eventsDelivered += reached;
    return reached;
  }

  #publishRemote(message: BrokerMessage): void {
    if (this.#broker === undefined) return;
    try {
      const published = this.#broker.publish(message);
      if (published instanceof Promise)
        published.catch((error) => this.#error(error, 'broker.publish'));
    } catch (error) {
      this.#error(error, 'broker.publish');
    }
  }

  #deliverRemote(message: BrokerMessage): void {
    if (this.#closed) return;
    const target = message.target;
    if (target.kind === 'disconnect') {
      this.#disconnectLocal(target.group, target.id);
      return;
    }
    // A unicast for a client with no connection here (most of them, in a cluster): nothing to do.
    if (target.kind === 'client' && !this.#groups.get(target.group)?.has(target.id)) return;
    // From another process: validate every field again before writing it to a stream.
    let bytes: Uint8Array;
    try {
      bytes = encodeEvent({
        event: message.event,
        id: message.id,
        retry: message.retry,
        data: message.data,
      });
    } catch (error) {
      this.#error(error, 'broker message');
      return;
    }
    this.#owner.stamp = this.#owner.now();
    this.#deliver(target, bytes, message.id);
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    const encoded = this.#tickEncoder.encoded;
    for (const connection of dirty) connection.flush();
    // Every unicast encoded this tick was queued on a connection that was due (a connection that
    // is blocked or replaying gets bytes of its own) and is now written: unless a hook sent more
    // during these writes, for the next flush, the tick's blocks are free again.
    if (this.#tickEncoder.encoded === encoded) this.#tickEncoder.release();
  };

  // ---------------------------------------------------------------- timers

  #startTimers(): void {
    // Ticks at a quarter of the interval, writing to connections quiet for three quarters: a
    // heartbeat every 0.75–1 × heartbeatMs, and no silence longer than heartbeatMs.
    const tick = this.#heartbeatMs / 4;
    this.#heartbeatTimer = unref(setInterval(() => this.#heartbeat(tick * 3), tick));
    this.#sweepTimer = unref(setInterval(() => this.#sweep(), this.#sweepIntervalMs));
  }

  #stopTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearInterval(this.#sweepTimer);
    this.#heartbeatTimer = this.#sweepTimer = undefined;
  }

  #heartbeat(idle: number): void {
    const now = this.#owner.now();
    this.#owner.stamp = now;
    const quietSince = now - idle;
    for (const connection of this.#connections) {
      if (
        connection.lastWriteAt <= quietSince &&
        connection.queue.length === 0 &&
        connection.blockedSince === 0
      ) {
        this.#counters.heartbeats++;
        connection.push(HEARTBEAT);
      }
    }
  }

  #sweep(): void {
    this.#tickEncoder.trim();
    const stalledBefore = this.#owner.now() - this.#idleTimeoutMs;
    for (const connection of [...this.#connections]) {
      if (connection.blockedSince !== 0 && connection.blockedSince <= stalledBefore) {
        this.#release(connection, 'stalled');
      }
    }
  }

  // ---------------------------------------------------------------- stats

  /** A snapshot of groups, clients, connections and counters. */
  info(): HubInfo {
    const groups: Record<string, number> = {};
    for (const [group, clients] of this.#groups) groups[group] = clients.size;
    return {
      groupCount: this.#groups.size,
      clientCount: this.#clientCount,
      connectionCount: this.#connections.size,
      groups,
      counters: { ...this.#counters },
      disconnects: { ...this.#disconnects },
      histograms: {
        writeDelayMs: this.#writeDelay.snapshot(),
        queueDepth: this.#queueDepth.snapshot(),
        replaySize: this.#replaySize.snapshot(),
      },
      ...(this.#broker && { broker: this.#brokerInfo(this.#broker) }),
    };
  }

  #brokerInfo(broker: Broker): BrokerInfo {
    const refused = this.#brokerRefused;
    try {
      return { ...broker.status(), refused };
    } catch (error) {
      this.#error(error, 'broker.status');
      return { state: 'down', reconnects: 0, refused };
    }
  }

  /**
   * The hub's metrics as structured samples (Prometheus families), what `GET {base}/metrics`
   * renders with `formatMetrics`; `promClientCollector` registers them with prom-client.
   */
  metrics(): MetricFamily[] {
    return collectMetrics(this.info(), this.#options.metrics);
  }

  /** Clients (distinct ids) in a group. */
  groupSize(group: string): number {
    return this.#groups.get(group)?.size ?? 0;
  }

  /** The ids of a group's clients. */
  groupClients(group: string): string[] {
    return [...(this.#groups.get(group)?.keys() ?? [])];
  }

  /** Connections open here for the client `{ group, id }`. */
  connectionsOf(client: ClientRef): number {
    assertClientRef(client, 'connectionsOf');
    return this.#groups.get(client.group)?.get(client.id)?.length ?? 0;
  }

  /** The event catalog (`HubOptions.events`), when the hub has one. */
  get catalog(): EventCatalog | undefined {
    return this.#catalog?.events;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Ends every stream (after flushing what was queued), clears every timer and closes the history
   * and broker. Nothing of the hub keeps the process alive afterwards.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of [...this.#connections]) this.#release(connection, 'shutdown');
    this.#stopTimers();
    await this.#checkTail;
    for (const leaving of this.#leaving.values())
      for (const { timer } of leaving.values()) clearTimeout(timer);
    this.#leaving.clear();
    try {
      await this.#presenceStore?.close();
    } catch (error) {
      this.#error(error, 'presenceStore.close');
    }
    await this.#tail.catch(() => {});
    try {
      await this.#broker?.close();
    } catch (error) {
      this.#error(error, 'broker.close');
    }
    try {
      await this.#history.close?.();
    } catch (error) {
      this.#error(error, 'history.close');
    }
  }

  // ---------------------------------------------------------------- internals

  #hook(name: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#error(error, name);
    }
  }

  #error(error: unknown, context: string): void {
    const onError = this.#options.onError;
    if (onError === undefined) return;
    try {
      onError(error, context);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }
}

/**
 * Every hub method names a client the same way, `{ group, id }`: two strings in a row would let a
 * swap compile and silently reach nobody. JavaScript callers that pass strings learn it here.
 */
function assertClientRef(client: unknown, method: string): asserts client is ClientRef {
  if (
    client !== null &&
    typeof client === 'object' &&
    typeof (client as ClientRef).group === 'string' &&
    typeof (client as ClientRef).id === 'string'
  )
    return;
  throw new TypeError(
    `hub.${method}() names a client as an object { group, id }, got ${describeValue(client)}. ` +
      `Write e.g. hub.${EXAMPLES[method] ?? `${method}({ group: 'users', id: 'alice' })`}.`,
  );
}

const EXAMPLES: Record<string, string> = {
  send: "send({ group: 'users', id: 'alice' }, event)",
  sendMany: "sendMany([{ group: 'users', id: 'alice' }], event)",
};

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (value === null || typeof value !== 'object') return String(value);
  return `an object with keys ${JSON.stringify(Object.keys(value))}`;
}

function prepare(
  target: Target,
  event: {
    event?: string | undefined;
    data: unknown;
    id?: string | undefined;
    retry?: number | undefined;
  },
): Omit<HistoryRecord, 'id'> {
  if (event === null || typeof event !== 'object') {
    throw new SSEError('invalid_target', 'An event must be an object such as { event, data }.');
  }
  if (event.event !== undefined) assertEventName(event.event);
  if (event.id !== undefined) assertEventId(event.id);
  if (event.id !== undefined) assertResumableId(event.id);
  const data = serializeData(event.data);
  if (event.retry !== undefined) assertRetry(event.retry);
  return new SentRecord(target, event.event, data, event.retry);
}

/**
 * A send's record. Made with `new`, not as an object literal: V8 pretenures a literal's
 * allocation site once its objects tend to survive (records of slow broadcasts stay in the
 * history), and from then on every record, of every send, would be born in the old generation,
 * and with it everything it points to kept alive through each scavenge (a burst of unicasts after
 * some broadcasts ran at half speed, most of it in the GC). Its id and bytes slots exist from the
 * start: the store (or the hub) fills them in without a shape change.
 */
class SentRecord implements HistoryRecord {
  id = '';
  bytes: Uint8Array | undefined = undefined;
  constructor(
    readonly target: Target,
    readonly event: string | undefined,
    readonly data: string,
    readonly retry: number | undefined,
  ) {}
}

/** A unicast's target, made with `new` for the reason `SentRecord` is: the history keeps it. */
class ClientTarget {
  readonly kind = 'client';
  constructor(
    readonly group: string,
    readonly id: string,
  ) {}
}

/**
 * An id the hub sends must come back intact in `Last-Event-ID` when the browser reconnects, or the
 * client would get a `reset` (or a 400) instead of its replay: not empty (an empty id clears the
 * browser's), at most `MAX_EVENT_ID_LENGTH` long, and without leading or trailing spaces or tabs,
 * which HTTP strips from header values.
 */
function assertResumableId(id: string): void {
  if (id === '') throw new SSEError('invalid_event_id', 'An event id must not be empty.');
  if (id.length > MAX_EVENT_ID_LENGTH) {
    throw new SSEError(
      'invalid_event_id',
      `An event id must be at most ${MAX_EVENT_ID_LENGTH} characters long, got ${id.length}.`,
    );
  }
  if (/^[ \t]|[ \t]$/.test(id)) {
    throw new SSEError(
      'invalid_event_id',
      `Invalid event id ${JSON.stringify(id)}: it must not begin or end with a space or tab, which HTTP strips from the Last-Event-ID header.`,
    );
  }
}

/**
 * Encodes a record whose fields `prepare` already validated (the hot path of every send). Records
 * from other nodes go through `encodeEvent`, which validates again.
 */
function encodeRecord(record: HistoryRecord): Uint8Array {
  return utf8(checkedEventText(record));
}

/** Anything but printable ASCII, tabs and line breaks: such text is encoded at once (its UTF-8 length may differ from its length). */
const NON_ASCII = /[^\t\n\r\x20-\x7e]/;

/**
 * A send that completed synchronously resolves with the connections it reached. Settled promises
 * cannot change, so the common counts share one instead of allocating one per send.
 */
const RESOLVED = Array.from({ length: 64 }, (_, count) => Promise.resolve(count));

function resolved(count: number): Promise<number> {
  return RESOLVED[count] ?? Promise.resolve(count);
}

function firstMeta(connections: readonly ConnectionState[]): Readonly<Record<string, unknown>> {
  return connections[0]?.meta ?? {};
}

function nonNegative(value: number, name: string): number {
  if (!(Number.isFinite(value) && value >= 0))
    throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return value;
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
