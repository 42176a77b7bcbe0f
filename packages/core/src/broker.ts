import type { Target } from './target.js';

/** A send (or a disconnect) as it travels between hubs. */
export interface BrokerMessage {
  /** The event id; `''` for a disconnect. */
  readonly id: string;
  readonly target:
    | Exclude<Target, { kind: 'where' }>
    | { readonly kind: 'disconnect'; readonly group: string; readonly id: string };
  readonly event: string | undefined;
  /** The serialised payload. */
  readonly data: string;
  readonly retry: number | undefined;
}

/** What a broker may call on its hub. */
export interface BrokerNode {
  /** Delivers a message of another hub to this hub's connections. */
  deliver(message: BrokerMessage): void;
  /** Reports a failure the broker survived (the hub's `onError`). */
  onError(error: unknown, context: string): void;
}

/** A broker's state, as it reports it. */
export interface BrokerStatus {
  /** `up`: sends can reach the other hubs now. `down`: the hub refuses sends. */
  readonly state: 'up' | 'down';
  /** Times the broker's link came back after it was lost. */
  readonly reconnects: number;
  /** The broker's own figures, rendered by `formatMetrics` after the hub's. */
  readonly metrics?: readonly BrokerMetric[];
}

/** One figure of a broker, in Prometheus terms (the name without the `ssehub_` prefix). */
export interface BrokerMetric {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  readonly value: number;
}

/** The broker as the hub's `info()` shows it: its status, and the sends the hub refused. */
export interface BrokerInfo extends BrokerStatus {
  /** Sends (and disconnects) the hub refused with `broker_unavailable`. */
  readonly refused: number;
}

/**
 * Carries sends between the hubs of a cluster (e.g. `@ssehub/redis`).
 *
 * Contract:
 * - Order: messages of one hub reach every other hub in the order that hub published them, and
 *   hubs that share a history store see one order: the order of the store's ids. `deliver` is
 *   called for each message of another hub once; never for the hub's own echo.
 * - A send is committed before the hub delivers it anywhere. With a shared `HistoryStore` (Redis
 *   Streams), the store's `append` is the commit point: it stores and publishes in one step, and
 *   `publish` then only tells the broker that the hub delivered the send locally. A broker without
 *   such a store commits in `publish`.
 * - `status()` is read before every send and disconnect: while it says `down`, the hub refuses them
 *   with `SSEError` code `broker_unavailable` and delivers nothing, not even locally, so a retry by
 *   the sender cannot duplicate an event. A send whose `append` fails is refused the same way.
 * - `publish` resolves once the message is handed to the broker; a rejection goes to `onError`
 *   (the hub has already delivered locally by then, so a broker should only fail here when
 *   `status()` could not know it).
 * - After a reconnect the broker delivers, in order and once, what the other hubs committed while
 *   it was away (a store it can read back), or reports what it lost through `onError`.
 * - `start` is called once by the hub's constructor; `close` once by `hub.close()`.
 */
export interface Broker {
  start(node: BrokerNode): void | Promise<void>;
  publish(message: BrokerMessage): void | Promise<void>;
  /** The broker's state now: cheap, synchronous, called before every send. */
  status(): BrokerStatus;
  close(): void | Promise<void>;
}
