/**
 * The ordered-delivery state machine of one node: pure, no Redis. It decides when the hub may
 * deliver each message so that every node delivers in stream-id order.
 *
 * - Messages of other nodes (live on pub/sub, or read back from the stream after a reconnect) are
 *   queued in stream order and delivered as soon as nothing before them waits.
 * - An own send waits for its echo on pub/sub (its place in the order) before the hub may deliver
 *   it; what follows it waits until the hub has. Neither waits longer than `orderTimeoutMs`.
 * - After a reconnect, live messages are held while the stream is read back, then merged, and
 *   stream messages the read-back already delivered are skipped when they arrive late on pub/sub.
 */

import type { BrokerMessage, BrokerNode } from '@ssehub/core';
import {
  type Body,
  compareStreamIds,
  type Envelope,
  entryFields,
  type StreamEntry,
  toMessage,
} from './wire.js';

/** The counters the ordering keeps (shared with the node's `RedisMetrics`). */
export interface OrderingCounters {
  /** Read: the node is subscribed, so live messages may still arrive. */
  subscribed: boolean;
  orderTimeouts: number;
  remoteMessages: number;
  recoveredEvents: number;
}

/** A send of this node on its way through Redis. */
export interface OwnSend {
  /** Its sequence number on the wire (unique per node). */
  readonly seq: string;
  readonly appId: string | undefined;
  /** `sendWhere`: the hub delivers it but never publishes it. */
  readonly local: boolean;
  /** Resolves with the event id once the hub may deliver it; rejects when it was not stored. */
  readonly promise: Promise<string>;
}

interface Send extends OwnSend {
  id: string | undefined;
  /** The append promise settled (the hub may deliver). */
  settled: boolean;
  /** The hub delivered it locally. */
  done: boolean;
  resolve: (id: string) => void;
  reject: (error: unknown) => void;
  /** When it stops waiting for its echo (`Date.now()` ms), once stored. */
  deadline: number;
}

/** What waits, in stream order, to be delivered on this node. */
type Entry =
  | { readonly kind: 'remote'; readonly streamId: string; readonly message: BrokerMessage }
  | { readonly kind: 'own'; readonly streamId: string; readonly send: Send }
  /** Nothing to deliver here, but its place in the order counts. */
  | { readonly kind: 'skip'; readonly streamId: string };

/** Options of the ordering. */
export interface OrderingOptions {
  /** This process's name on the wire: envelopes from it are own sends. */
  readonly origin: string;
  /** Longest wait for an echo, or for the hub to deliver an own send at the head. */
  readonly orderTimeoutMs: number;
  readonly counters: OrderingCounters;
  /** Errors the ordering survived. */
  readonly onError: (error: unknown, context: string) => void;
}

/** One node's ordered delivery. Give it the hub with `attach`. */
export class Ordering {
  readonly #origin: string;
  readonly #orderTimeoutMs: number;
  readonly #counters: OrderingCounters;
  readonly #onError: (error: unknown, context: string) => void;
  #node: BrokerNode | undefined;
  #seq = 0;
  /** Own sends by sequence, until delivered. */
  readonly #pending = new Map<string, Send>();
  /** Own sends by event id, settled and waiting for the hub to deliver them. */
  readonly #settled = new Map<string, Send[]>();
  /** Stored sends waiting for their echo, oldest first; one timer ends their waits. */
  #echoes: Send[] = [];
  #echoHead = 0;
  #echoTimer: ReturnType<typeof setTimeout> | undefined;
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

  constructor(options: OrderingOptions) {
    this.#origin = options.origin;
    this.#orderTimeoutMs = options.orderTimeoutMs;
    this.#counters = options.counters;
    this.#onError = options.onError;
  }

  /** The hub to deliver to. */
  attach(node: BrokerNode): void {
    this.#node = node;
  }

  /** The hub, once attached. */
  get node(): BrokerNode | undefined {
    return this.#node;
  }

  /** The last stream id delivered on this node, in stream order. */
  get watermark(): string | undefined {
    return this.#watermark;
  }

  // ---------------------------------------------------------------- own sends

  /** Starts an own send: its `promise` settles through `stored` or `failed`. */
  begin(appId: string | undefined, local: boolean): OwnSend {
    let resolve!: (id: string) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const send: Send = {
      seq: (++this.#seq).toString(36),
      appId,
      local,
      promise,
      id: undefined,
      settled: false,
      done: false,
      resolve,
      reject,
      deadline: 0,
    };
    this.#pending.set(send.seq, send);
    return send;
  }

  /**
   * Redis stored the send under `streamId`. `ordered`: it was also published, so its echo decides
   * when the hub may deliver it; if the echo does not come in `orderTimeoutMs`, it goes anyway.
   */
  stored(own: OwnSend, streamId: string, ordered: boolean): void {
    const send = own as Send;
    if (send.settled) return;
    send.id = send.appId ?? streamId;
    if (!ordered) {
      this.#settle(send);
      return;
    }
    send.deadline = Date.now() + this.#orderTimeoutMs;
    this.#echoes.push(send);
    this.#echoTimer ??= unref(setTimeout(() => this.#expireEchoes(), this.#orderTimeoutMs));
  }

  /** Delivers the stored sends whose echo is late; re-arms for the next one still waiting. */
  #expireEchoes(): void {
    this.#echoTimer = undefined;
    const echoes = this.#echoes;
    const now = Date.now();
    while (this.#echoHead < echoes.length) {
      const send = echoes[this.#echoHead]!;
      if (!send.settled) {
        if (send.deadline > now) {
          this.#echoes = echoes.slice(this.#echoHead);
          this.#echoHead = 0;
          this.#echoTimer = unref(setTimeout(() => this.#expireEchoes(), send.deadline - now));
          return;
        }
        this.#counters.orderTimeouts++;
        this.#settle(send);
      }
      this.#echoHead++;
    }
    this.#echoes = [];
    this.#echoHead = 0;
  }

  /** The send was not stored: it is rejected and nothing waits for it. */
  failed(own: OwnSend, error: unknown): void {
    const send = own as Send;
    this.#pending.delete(send.seq);
    if (send.settled) return;
    send.settled = true;
    send.reject(error);
  }

  /**
   * The hub delivered the send with this event id locally and now publishes it: true when it was
   * an own stored send (Redis published it already), false for anything else.
   */
  delivered(eventId: string): boolean {
    const sends = this.#settled.get(eventId);
    const send = sends?.shift();
    if (send === undefined) return false;
    if (sends!.length === 0) this.#settled.delete(eventId);
    this.#finish(send);
    this.#drain();
    return true;
  }

  // ---------------------------------------------------------------- messages

  /** The envelopes of a message from pub/sub, in order. */
  receive(...messages: Envelope[]): void {
    if (this.#recovering !== undefined) {
      this.#recovering.push(...messages);
      return;
    }
    for (const message of messages) this.#accept(message);
    this.#drain();
  }

  /** Where the stream stood when the node first subscribed (`0-0` when empty). */
  started(top: string): void {
    this.#advance(top);
    this.#accepted ??= this.#watermark;
  }

  /**
   * The node (re)subscribed: returns the stream id after which to read back what it missed, or
   * `undefined` when it never took anything in (nothing to read back). Live messages are held
   * until `readBack`.
   */
  subscribed(): string | undefined {
    this.#recovering = this.#accepted === undefined ? undefined : [];
    return this.#accepted;
  }

  /** Delivers, in order, what the stream got after `from`, then the live messages held meanwhile. */
  readBack(from: string, entries: readonly StreamEntry[], now: number): void {
    for (const entry of entries) {
      const fields = entryFields(entry);
      if (fields?.origin === this.#origin) {
        // An own send stored while the echo could not come: its place is here.
        this.#acceptOwn(fields.seq, entry[0]);
        continue;
      }
      const message = fields && toMessage(fields.body, entry[0]);
      if (message !== undefined) {
        this.#counters.recoveredEvents++;
        this.#enqueue({ kind: 'remote', streamId: entry[0], message });
      } else this.#enqueue({ kind: 'skip', streamId: entry[0] });
    }
    const live = this.#recovering ?? [];
    this.#recovering = undefined;
    const last = entries[entries.length - 1]?.[0] ?? from;
    this.#readBack = { upTo: last, until: now + 5 * this.#orderTimeoutMs };
    for (const message of live) this.#accept(message);
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
      this.#onError(error, 'redis.message');
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

  /** Lets the hub deliver an own send; `ordered` when its echo put it in the queue. */
  #settle(send: Send, ordered = false): void {
    send.settled = true;
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

  #finish(send: Send): void {
    send.done = true;
    this.#pending.delete(send.seq);
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
        this.#counters.remoteMessages++;
        try {
          this.#node?.deliver(entry.message);
        } catch (error) {
          this.#onError(error, 'broker.deliver');
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
          this.#counters.orderTimeouts++;
          release();
        }, this.#orderTimeoutMs);
    unref(this.#headTimer);
  }

  // ---------------------------------------------------------------- replay seam

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
  caughtUpTo(streamId: string): Promise<void> | undefined {
    if (!this.#counters.subscribed || this.#node === undefined) return undefined;
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

  // ---------------------------------------------------------------- lifecycle

  /** Rejects the sends still waiting with `error`, and releases every waiter. */
  close(error: unknown): void {
    clearTimeout(this.#headTimer);
    clearTimeout(this.#echoTimer);
    this.#echoTimer = undefined;
    this.#echoes = [];
    this.#echoHead = 0;
    for (const send of this.#pending.values()) {
      if (!send.settled) {
        send.settled = true;
        send.reject(error);
      }
    }
    this.#pending.clear();
    this.#settled.clear();
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
  }
}

function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
