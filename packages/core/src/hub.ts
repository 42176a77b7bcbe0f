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
  dataLines,
  encodeComment,
  encodeEvent,
  encodeRetry,
  formatEvent,
  MAX_EVENT_ID_LENGTH,
  serializeData,
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

/** A snapshot of the hub: groups, clients, connections and counters. */
export interface HubInfo {
  groupCount: number;
  clientCount: number;
  connectionCount: number;
  /** Clients per group. */
  groups: Record<string, number>;
  counters: HubCounters;
  /** The broker's state, with a broker (`HubOptions.broker`). */
  broker?: BrokerInfo;
}

const HEARTBEAT = encodeComment();
/** setTimeout's largest delay (2^31 − 1 ms); a larger one fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;
let hubCounter = 0;

/**
 * The hub: connections keyed by client `{ group, id }`, and the sends that reach
 * them. Several hubs may live in one process. Nothing has to be started: timers run while there
 * are connections and stop with the last one or with `close()`.
 */
export class Hub<M extends EventMap = AnyEvents> {
  readonly #groups = new Map<string, Map<string, Set<ConnectionState>>>();
  readonly #connections = new Set<ConnectionState>();
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
  #dirty: ConnectionState[] = [];
  #flushScheduled = false;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** Keeps sends in order while an asynchronous history store assigns ids. */
  #tail: Promise<unknown> = Promise.resolve();
  #pendingAsync = 0;
  #brokerRefused = 0;
  #closed = false;
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
    encodeRetry(this.#retryMs);
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
    this.#owner = {
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
      options.meta ?? {},
      options.remoteAddress,
      sink,
      this.#owner,
      this.#prefix + (++this.#connectionSeq).toString(36),
    );
    let clients = this.#groups.get(group);
    if (clients === undefined) this.#groups.set(group, (clients = new Map()));
    let connections = clients.get(id);
    if (connections === undefined) {
      clients.set(id, (connections = new Set()));
      this.#clientCount++;
    }
    connections.add(connection);
    this.#connections.add(connection);
    this.#counters.connectionsOpened++;
    if (this.#connections.size === 1) this.#startTimers();

    connection.push(this.#jitteredRetry());
    connection.push(
      utf8(
        formatEvent({
          event: 'connected',
          data: { ...options.connectedData, id, group, connectionId: connection.connectionId },
        }),
      ),
    );
    if (options.lastEventId !== undefined) this.#replay(connection, options.lastEventId);
    if (expiresAt !== undefined) this.#expireAt(connection, expiresAt);
    if (this.#maxStreamMs !== undefined) this.#endAtLifetime(connection, this.#maxStreamMs);
    this.#hook('onConnect', () => this.#options.onConnect?.(connection.info));
    return connection;
  }

  #replay(connection: ConnectionState, lastEventId: string): void {
    connection.held = [];
    const finish = (result: Awaited<ReturnType<HistoryStore['since']>>) => {
      if (connection.isClosed) return;
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
  #jitteredRetry(): Uint8Array {
    return encodeRetry(Math.round(this.#retryMs * (1 + this.#retryJitter * Math.random())));
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
    if (connections?.delete(connection) && connections.size === 0) {
      clients!.delete(connection.id);
      this.#clientCount--;
      if (clients!.size === 0) this.#groups.delete(connection.group);
    }
    this.#connections.delete(connection);
    const counters = this.#counters;
    counters.connectionsClosed++;
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
    const list = [...connections];
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
    return this.#publish({ kind: 'client', group: client.group, id: client.id }, event);
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
      return Promise.resolve(this.#deliverNew(partial, appId ?? this.#fallbackId()));
    }
    if (typeof assigned === 'string' && this.#pendingAsync === 0) {
      return Promise.resolve(this.#deliverNew(partial, assigned));
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

  #deliverNew(partial: Omit<HistoryRecord, 'id'>, id: string): number {
    const record = partial as HistoryRecord;
    record.id = id;
    const bytes = (record.bytes ??= encodeRecord(record));
    this.#counters.eventsSent++;
    const reached = this.#deliver(record.target, bytes, id);
    if (record.target.kind !== 'where') {
      this.#publishRemote({
        id,
        target: record.target,
        event: record.event,
        data: record.data,
        retry: record.retry,
      });
    }
    return reached;
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
        const seen = new Set<Set<ConnectionState>>();
        for (const client of target.clients) {
          const connections = this.#groups.get(client.group)?.get(client.id);
          if (connections === undefined || seen.has(connections)) continue;
          seen.add(connections);
          for (const connection of connections) {
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
    this.#deliver(target, bytes, message.id);
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const connection of dirty) connection.flush();
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
    const quietSince = this.#owner.now() - idle;
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
    return this.#groups.get(client.group)?.get(client.id)?.size ?? 0;
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
  return { target, event: event.event, data, retry: event.retry };
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
  let head = record.event === undefined ? '' : `event: ${record.event}\n`;
  head += `id: ${record.id}\n`;
  if (record.retry !== undefined) head += `retry: ${record.retry}\n`;
  return utf8(`${head}${dataLines(record.data)}\n`);
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
