/**
 * The broker: Redis pub/sub between the nodes. It subscribes (and resubscribes after every
 * reconnect, reading back from the stream what it missed), hands other nodes' messages to the
 * ordering, publishes what the history script did not (disconnects), and reports its state.
 */

import type { Broker, BrokerMessage, BrokerNode, BrokerStatus } from '@ssehub/core';
import { type RedisConnections, RedisUnavailableError } from './connection.js';
import type { Ordering } from './ordering.js';
import { type RedisMetrics, redisMetricList, unref } from './report.js';
import {
  encodeBody,
  envelope,
  type Keys,
  parseEnvelopes,
  type StreamEntry,
  type WireTarget,
} from './wire.js';

/** What the broker shares with the rest of the node. */
export interface BrokerContext {
  readonly connections: RedisConnections;
  readonly ordering: Ordering;
  readonly metrics: RedisMetrics;
  readonly keys: Keys;
  readonly origin: string;
  readonly maxEvents: number;
  readonly closed: () => boolean;
  readonly close: () => Promise<void>;
  readonly error: (error: unknown, context: string) => void;
}

/** The broker of a backplane node. */
export class RedisBroker implements Broker {
  readonly #c: BrokerContext;
  #ready: Promise<void> | undefined;
  /** Counts subscriptions, so a read-back that a newer reconnect overtook gives up. */
  #generation = 0;
  #everSubscribed = false;

  constructor(context: BrokerContext) {
    this.#c = context;
  }

  /** Resolves once subscribed (after `start`). */
  get ready(): Promise<void> | undefined {
    return this.#ready;
  }

  start(node: BrokerNode): Promise<void> {
    const c = this.#c;
    c.ordering.attach(node);
    this.#ready ??= new Promise<void>((resolve) => {
      const check = () => {
        if (c.metrics.subscribed) resolve();
        else if (!c.closed()) unref(setTimeout(check, 20));
      };
      check();
    });
    if (c.connections.subscriber.status === 'ready') this.subscribe();
    return this.#ready;
  }

  /** (Re)subscribes; called on start and whenever the subscriber connection is ready. */
  subscribe(): void {
    this.#subscribe().catch((error) => this.#c.error(error, 'redis.subscribe'));
  }

  /** The subscriber connection closed: other nodes' messages stop until it is back. */
  unsubscribed(): void {
    // Pending sends keep waiting for their place: the stream read after resubscribing gives it,
    // or `orderTimeoutMs` ends the wait.
    this.#c.metrics.subscribed = false;
  }

  /** A raw pub/sub message. */
  receive(channel: string, raw: string): void {
    const c = this.#c;
    if (channel !== c.keys.channel && channel !== c.keys.nodeChannel) return;
    const messages = parseEnvelopes(raw);
    if (messages === undefined) {
      c.error(new Error('A malformed message arrived on the backplane channel.'), 'redis.message');
      return;
    }
    c.ordering.receive(...messages);
  }

  async #subscribe(): Promise<void> {
    const c = this.#c;
    if (c.ordering.node === undefined || c.closed()) return;
    const generation = ++this.#generation;
    const from = c.ordering.subscribed();
    await c.connections.subscriber.subscribe(c.keys.channel, c.keys.nodeChannel);
    if (this.#everSubscribed) c.metrics.resubscribes++;
    else {
      // Where to read back from after a reconnect, even if nothing arrives before it.
      try {
        const top = (await c.connections.call((r) =>
          r.xrevrange(c.keys.stream, '+', '-', 'COUNT', 1),
        )) as StreamEntry[];
        c.ordering.started(top[0]?.[0] ?? '0-0');
      } catch {
        // Unknown: a reconnect then resumes from the first event delivered here.
      }
    }
    this.#everSubscribed = true;
    if (from !== undefined) await this.#recover(from, generation);
    if (generation === this.#generation) c.metrics.subscribed = true;
  }

  /** Reads back, in order, what the stream got while this node was not subscribed. */
  async #recover(from: string, generation: number): Promise<void> {
    const c = this.#c;
    let entries: StreamEntry[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        entries = (await c.connections.call((r) =>
          r.xrange(c.keys.stream, `(${from}`, '+', 'COUNT', c.maxEvents),
        )) as StreamEntry[];
        break;
      } catch (error) {
        if (generation !== this.#generation) return;
        if (attempt >= 25 || c.closed()) {
          c.error(error, 'redis.recover');
          break;
        }
        await sleep(200);
      }
    }
    if (generation !== this.#generation || c.closed()) return;
    c.ordering.readBack(from, entries, Date.now());
  }

  publish(message: BrokerMessage): Promise<void> | undefined {
    const c = this.#c;
    // Stored and published by the append script; the hub has now delivered it here.
    if (message.target.kind !== 'disconnect' && c.ordering.delivered(message.id)) return undefined;
    // Not in the stream (a disconnect, or a send of a hub whose history is elsewhere).
    const body = encodeBody(
      message.target as WireTarget,
      message.event,
      message.data,
      message.retry,
      message.target.kind === 'disconnect' ? undefined : message.id,
    );
    if (!c.connections.commandReady) {
      c.metrics.publishFailures++;
      return Promise.reject(new RedisUnavailableError('Redis is not connected: not published.'));
    }
    return c.connections
      .call((r) => r.publish(c.keys.channel, envelope('', c.origin, '', body)))
      .then(
        () => undefined,
        (error) => {
          c.metrics.publishFailures++;
          throw error;
        },
      );
  }

  /** `up` while the command connection is ready: a send can be committed now. */
  status(): BrokerStatus {
    const c = this.#c;
    const up = !c.closed() && c.connections.commandReady;
    return {
      state: up ? 'up' : 'down',
      reconnects: c.metrics.reconnects,
      metrics: redisMetricList(c.metrics),
    };
  }

  close(): Promise<void> {
    return this.#c.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
