import { utf8 } from './encoding.js';
import type { ConnectionControl, Sink } from './sink.js';
import type { ClientInfo } from './target.js';

/** Why a connection ended. */
export type DisconnectReason =
  /** The client went away (tab closed, network lost). */
  | 'client-closed'
  /** The server disconnected the client (`hub.disconnect`); the browser reconnects. */
  | 'kicked'
  /** The client could not keep up: its queue overflowed under the `disconnect` policy. */
  | 'slow'
  /** Nothing drained for `idleTimeoutMs`. */
  | 'stalled'
  /**
   * The connection's credentials expired (`ConnectOptions.expiresAt`: a JWT's `exp`, or the
   * expiry an `authorize` hook returned). The stream ends after what was queued; the client
   * reconnects with a fresh token and its Last-Event-ID.
   */
  | 'expired'
  /**
   * The stream reached its maximum lifetime (`HubOptions.maxStreamMs`). The stream ends after
   * what was queued, with a jittered `retry`; the client reconnects with its Last-Event-ID.
   */
  | 'lifetime'
  /** The hub closed. */
  | 'shutdown'
  /** The transport failed. */
  | 'error';

/** What a connection does when its queue overflows. */
export type SlowClientPolicy = 'disconnect' | 'drop-oldest';

/** The hub internals a connection calls back into. */
export interface ConnectionOwner {
  scheduleFlush(connection: ConnectionState): void;
  release(connection: ConnectionState, reason: DisconnectReason, error?: unknown): void;
  countWrite(bytes: number): void;
  countDropped(events: number): void;
  /** Observes a write: ms since its oldest chunk was queued, and the chunks it merges. */
  observeWrite(delayMs: number, depth: number): void;
  /** When the send (heartbeat, replay) being queued now happened: the hub's clock, set per send. */
  stamp: number;
  readonly maxQueuedEvents: number;
  readonly maxQueuedBytes: number;
  readonly policy: SlowClientPolicy;
  now(): number;
}

/**
 * What hooks (`onConnect`, `onDisconnect`), `sendWhere` predicates and named filters see of a
 * connection: a read-only view whose figures are current whenever they are read.
 */
export interface ConnectionInfo extends ClientInfo {
  /** Unique within the process. */
  readonly connectionId: string;
  /** The client's address as the adapter saw it, when it knows one. */
  readonly remoteAddress: string | undefined;
  /** When the connection opened (ms, the hub's clock). */
  readonly connectedAt: number;
  /** Whether the connection has ended. */
  readonly closed: boolean;
  /** Whether the history is still being replayed to it (live events wait until it is done). */
  readonly replaying: boolean;
  /** Whether its transport refused more bytes and has not drained since. */
  readonly blocked: boolean;
  /** Chunks (events, heartbeats) queued for its transport. */
  readonly queuedEvents: number;
  /** Bytes queued for its transport. */
  readonly queuedBytes: number;
}

/**
 * An open connection as the adapter that opened it (`hub.connect`, a `StreamResponse`) holds it:
 * the adapter reports its transport's state; nothing else of the connection can be changed.
 */
export interface Connection extends ConnectionControl {
  /** The read-only view that hooks and predicates get. */
  readonly info: ConnectionInfo;
  /** Calls `listener` once when this connection ends, with the reason. */
  onClose(listener: (reason: DisconnectReason) => void): void;
}

/**
 * What a connection queues: bytes (an event encoded once and shared by its recipients, or a
 * unicast event encoded for this connection), or the text of a line only this connection gets
 * (`retry:`, the `connected` event), made only of printable ASCII, tab, CR and LF, so that its
 * length is its byte length.
 */
export type Queued = Uint8Array | string;

/** Set by `ConnectionView`'s static block: the only way from a view back to its state. */
let stateOfView: (view: object) => ConnectionState | undefined;

/** The read-only view of a connection's state, one per connection. */
class ConnectionView implements ConnectionInfo {
  readonly #state: ConnectionState;
  constructor(state: ConnectionState) {
    this.#state = state;
  }
  get group(): string {
    return this.#state.group;
  }
  get id(): string {
    return this.#state.id;
  }
  get meta(): Readonly<Record<string, unknown>> {
    return this.#state.meta;
  }
  get connectionId(): string {
    return this.#state.connectionId;
  }
  get remoteAddress(): string | undefined {
    return this.#state.remoteAddress;
  }
  get connectedAt(): number {
    return this.#state.openedAt;
  }
  get closed(): boolean {
    return this.#state.isClosed;
  }
  get replaying(): boolean {
    return this.#state.held !== undefined;
  }
  get blocked(): boolean {
    return this.#state.blockedSince !== 0;
  }
  get queuedEvents(): number {
    return this.#state.queue.length;
  }
  get queuedBytes(): number {
    return this.#state.queuedBytes;
  }
  static {
    stateOfView = (view) => (#state in view ? view.#state : undefined);
  }
}

/** The hub's connection behind a view that hooks were given, if it is one. */
export function connectionStateOf(view: unknown): ConnectionState | undefined {
  return view !== null && typeof view === 'object' ? stateOfView(view) : undefined;
}

/**
 * One open event stream: the hub's internal state of it, never handed to app code (hooks get
 * `info`, adapters the `Connection` interface). Events queue here while the transport is busy,
 * bounded in count and bytes; everything queued in one tick leaves as one chunk.
 */
export class ConnectionState implements Connection {
  /** Unique within the process. */
  readonly connectionId: string;
  readonly openedAt: number;
  #info: ConnectionInfo | undefined;
  /** When bytes were last handed to the transport. */
  lastWriteAt: number;
  /** Since when the transport has refused more bytes (0 when it takes them). */
  blockedSince = 0;
  /** Queued while flushing is scheduled or the transport is blocked. */
  queue: Queued[] = [];
  queuedBytes = 0;
  /** The owner's `stamp` when the queue last went from empty to not: what its write waited since. */
  queuedAt = 0;
  /** Scheduled for the hub's next flush. */
  scheduled = false;
  /** Live events held back while the history is replayed, with their ids. */
  held: { id: string; bytes: Queued }[] | undefined;
  /** The last list send (`sendMany`) that reached this connection: a client listed twice gets it once. */
  listStamp = 0;
  isClosed = false;
  /** Called once when the connection ends (see `onClose`). */
  closeListeners: ((reason: DisconnectReason) => void)[] | undefined;

  constructor(
    readonly group: string,
    readonly id: string,
    readonly meta: Readonly<Record<string, unknown>>,
    readonly remoteAddress: string | undefined,
    readonly sink: Sink,
    readonly owner: ConnectionOwner,
    connectionId: string,
  ) {
    this.connectionId = connectionId;
    this.openedAt = this.lastWriteAt = owner.now();
  }

  /** The read-only view that hooks and predicates get (made when first asked for). */
  get info(): ConnectionInfo {
    return (this.#info ??= new ConnectionView(this));
  }

  /** Queues an event's bytes; `eventId` lets replay drop live duplicates at the seam. */
  enqueue(bytes: Queued, eventId?: string): void {
    if (this.isClosed) return;
    if (this.held !== undefined && eventId !== undefined) {
      this.held.push({ id: eventId, bytes });
      return;
    }
    this.push(bytes);
  }

  /** Queues bytes regardless of replay state. */
  push(bytes: Queued): void {
    if (this.isClosed) return;
    const owner = this.owner;
    if (this.queue.length === 0) this.queuedAt = owner.stamp;
    this.queue.push(bytes);
    this.queuedBytes += sizeOf(bytes);
    if (this.queue.length > owner.maxQueuedEvents || this.queuedBytes > owner.maxQueuedBytes) {
      if (this.blockedSince === 0) {
        // Not slow, just a large burst in one tick: write now instead of waiting.
        this.flush();
        return;
      }
      if (owner.policy === 'disconnect') {
        owner.release(this, 'slow');
        return;
      }
      let dropped = 0;
      while (
        this.queue.length > 1 &&
        (this.queue.length > owner.maxQueuedEvents || this.queuedBytes > owner.maxQueuedBytes)
      ) {
        this.queuedBytes -= sizeOf(this.queue.shift()!);
        dropped++;
      }
      owner.countDropped(dropped);
      return;
    }
    if (!this.scheduled && this.blockedSince === 0) {
      this.scheduled = true;
      owner.scheduleFlush(this);
    }
  }

  /**
   * Hands everything queued to the transport as one chunk. `force` writes even into a full
   * transport (which still takes the bytes): used right before the server ends the stream.
   */
  flush(force = false): void {
    this.scheduled = false;
    if (this.isClosed || (this.blockedSince !== 0 && !force) || this.queue.length === 0) return;
    const sink = this.sink;
    const size = this.queuedBytes;
    const depth = this.queue.length;
    this.queuedBytes = 0;
    this.lastWriteAt = this.owner.now();
    this.owner.observeWrite(this.lastWriteAt - this.queuedAt, depth);
    this.owner.countWrite(size);
    let accepted: boolean;
    if (sink.writeParts !== undefined) {
      // The sink copies the parts before it returns (a write never re-enters the hub
      // synchronously), so the array is cleared and reused after.
      accepted = sink.writeParts(this.queue, size);
      this.queue.length = 0;
    } else {
      const chunk = join(this.queue, size);
      this.queue.length = 0;
      accepted = sink.write(chunk);
    }
    if (!accepted && this.blockedSince === 0) this.blockedSince = this.lastWriteAt;
  }

  /**
   * Writes replayed events now, past the queue bounds: the history's own bounds limit a replay,
   * and a client that asks for one is not slow for receiving it in one piece.
   */
  pushReplay(events: readonly Uint8Array[]): void {
    if (this.isClosed || events.length === 0) return;
    if (this.queue.length === 0) this.queuedAt = this.owner.stamp;
    for (const bytes of events) {
      this.queue.push(bytes);
      this.queuedBytes += bytes.byteLength;
    }
    this.flush(true);
  }

  /** Ends replay: releases held live events that the replay did not already deliver. */
  endReplay(replayedIds: ReadonlySet<string>): void {
    const held = this.held;
    this.held = undefined;
    if (held === undefined) return;
    for (const { id, bytes } of held) if (!replayedIds.has(id)) this.push(bytes);
  }

  /** Calls `listener` once when this connection ends, with the reason. */
  onClose(listener: (reason: DisconnectReason) => void): void {
    if (this.isClosed) return;
    (this.closeListeners ??= []).push(listener);
  }

  drain(): void {
    if (this.blockedSince === 0) return;
    this.blockedSince = 0;
    this.flush();
  }

  closed(error?: unknown): void {
    this.owner.release(this, error === undefined ? 'client-closed' : 'error', error);
  }
}

function sizeOf(queued: Queued): number {
  return typeof queued === 'string' ? queued.length : queued.byteLength;
}

/**
 * Everything queued as one chunk. A single part is handed over as it is when it is a whole
 * buffer (an event's shared bytes); a view of part of a larger one (a unicast event, see
 * `TickEncoder`) is copied, because the hub writes over those blocks after the flush and a sink
 * may keep its chunk (a stream's queue).
 */
function join(queue: readonly Queued[], totalLength: number): Uint8Array {
  const only = queue.length === 1 ? queue[0]! : undefined;
  if (only instanceof Uint8Array && only.byteLength === only.buffer.byteLength) return only;
  if (typeof only === 'string') return utf8(only);
  const out = new Uint8Array(totalLength);
  let at = 0;
  for (const queued of queue) {
    if (typeof queued === 'string') {
      for (let i = 0; i < queued.length; i++) out[at++] = queued.charCodeAt(i);
    } else {
      out.set(queued, at);
      at += queued.byteLength;
    }
  }
  return out;
}
