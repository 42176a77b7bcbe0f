/**
 * The shared history: a `HistoryStore` over one Redis Stream. `append` stores and publishes a
 * send in one Lua script, the commit point of a send in the backplane: it either ran (the send is
 * in the stream and on its way to every node) or the send is refused.
 */

import type { HistoryRecord, HistoryStore, ReplayResult, Target } from '@ssehub/core';
import { type RedisConnections, RedisUnavailableError } from './connection.js';
import type { Ordering, OwnSend } from './ordering.js';
import type { RedisMetrics } from './report.js';
import { APPEND, SINCE } from './scripts.js';
import {
  clientId,
  encodeBody,
  entryFields,
  type Keys,
  type StreamEntry,
  toRecord,
  type WireTarget,
} from './wire.js';

/** At most this many late ids are dropped at a replay seam (a node further behind waits). */
const MAX_SEEN = 1_000;

/** At most this many sends go in one append script call (Redis runs nothing else meanwhile). */
const MAX_BATCH = 500;

/** A send waiting for the end of its tick to be stored. */
interface Pending {
  readonly send: OwnSend;
  readonly body: string;
  readonly channel: string;
  readonly appId: string;
}

/** What the history shares with the rest of the node. */
export interface HistoryContext {
  readonly connections: RedisConnections;
  readonly ordering: Ordering;
  readonly metrics: RedisMetrics;
  readonly keys: Keys;
  /** This process's name on the wire. */
  readonly origin: string;
  readonly maxEvents: number;
  readonly maxAgeMs: number;
  readonly closed: () => boolean;
  readonly close: () => Promise<void>;
}

/** The history store of a backplane node. */
export class RedisHistory implements HistoryStore {
  readonly #c: HistoryContext;
  /** `sendWhere` predicates of this node, for replay here. */
  readonly #predicates = new Map<string, Target>();
  /** Sends of the current tick, stored together at its end. */
  #tick: Pending[] = [];

  constructor(context: HistoryContext) {
    this.#c = context;
  }

  /**
   * Stores and publishes the send; resolves with its id once the hub may deliver it (after its
   * echo, so in cluster order). Rejects, and nothing reaches any node, when Redis is not
   * connected or the script fails. The sends of one tick are stored in order by one script call
   * per 500 (pipelined: one round trip) and published as one message per call, so a loop of
   * 1 000 `hub.send` calls costs Redis two script runs, not 1 000.
   */
  append(record: Omit<HistoryRecord, 'id'>, appId: string | undefined): Promise<string> {
    const c = this.#c;
    if (c.closed()) return Promise.reject(new RedisUnavailableError('The backplane is closed.'));
    if (!c.connections.commandReady) {
      c.metrics.appendFailures++;
      return Promise.reject(new RedisUnavailableError('Redis is not connected: not stored.'));
    }
    const local = record.target.kind === 'where';
    const send = c.ordering.begin(appId, local);
    let target: WireTarget;
    if (record.target.kind === 'where') {
      target = { kind: 'where', node: c.origin, ref: send.seq };
      this.#predicates.set(send.seq, record.target);
      if (this.#predicates.size > c.maxEvents) {
        this.#predicates.delete(this.#predicates.keys().next().value!);
      }
    } else target = record.target;
    const body = encodeBody(target, record.event, record.data, record.retry, appId);
    // Publish only with a hub attached; `sendWhere` echoes to this node alone.
    const channel =
      c.ordering.node === undefined ? '' : local ? c.keys.nodeChannel : c.keys.channel;
    if (this.#tick.push({ send, body, channel, appId: appId ?? '' }) === 1)
      queueMicrotask(() => this.#store());
    return send.promise;
  }

  /** Stores the sends of the tick, in order, in script calls of up to `MAX_BATCH` sends. */
  #store(): void {
    const c = this.#c;
    const tick = this.#tick;
    this.#tick = [];
    for (let start = 0; start < tick.length; start += MAX_BATCH) {
      const batch = tick.slice(start, start + MAX_BATCH);
      const keys = [c.keys.stream];
      const args = [c.origin, String(c.maxEvents), String(c.maxAgeMs)];
      for (const { send, body, channel, appId } of batch) {
        if (appId !== '') keys.push(c.keys.appId(appId));
        args.push(send.seq, body, channel, appId);
      }
      c.connections.scriptInTick(APPEND, keys, args).then(
        (ids) => {
          const streamIds = ids as unknown[];
          batch.forEach(({ send, channel }, i) => {
            c.ordering.stored(send, String(streamIds[i]), channel !== '');
          });
        },
        (error) => {
          c.metrics.appendFailures += batch.length;
          for (const { send } of batch) c.ordering.failed(send, error);
        },
      );
    }
  }

  async since(
    lastEventId: string,
    matches: (record: HistoryRecord) => boolean,
  ): Promise<ReplayResult> {
    const c = this.#c;
    if (!c.connections.commandReady) {
      throw new RedisUnavailableError('Redis is not connected: no replay.');
    }
    // Live events can only be late here while subscribed; unsubscribed, nothing arrives live.
    const watermark = c.metrics.subscribed ? c.ordering.watermark : undefined;
    const reply = (await c.connections.script(
      SINCE,
      [c.keys.stream, c.keys.appId(lastEventId)],
      [lastEventId, String(c.maxEvents + 1), watermark ?? '', String(MAX_SEEN)],
    )) as [number, StreamEntry[]] | [number, string, StreamEntry[], StreamEntry[]];
    if (reply[0] === 0) {
      const newest = (reply[1] as StreamEntry[])[0];
      return { found: false, newestId: newest === undefined ? undefined : clientId(newest) };
    }
    const [, last, after, seen] = reply as [number, string, StreamEntry[], StreamEntry[]];
    if (after.length > c.maxEvents) {
      // More than a replay may carry: the client refetches instead.
      return { found: false, newestId: clientId(after[after.length - 1]!) };
    }
    // Live events up to the newest replayed one may still be on their way here. Let them arrive
    // first, while the hub holds live events back: it then drops those the client has (`seen`)
    // or gets in the replay, instead of sending them again after it.
    await c.ordering.caughtUpTo(after[after.length - 1]?.[0] ?? last);
    const events: HistoryRecord[] = [];
    for (const entry of after) {
      const fields = entryFields(entry);
      if (fields === undefined) continue;
      const record = toRecord(fields.body, entry[0], (node, ref) =>
        node === c.origin ? this.#predicates.get(ref) : undefined,
      );
      if (record !== undefined && matches(record)) events.push(record);
    }
    return { found: true, events, seen: seen.map(clientId) };
  }

  close(): Promise<void> {
    return this.#c.close();
  }
}
