/**
 * Presence: who is online in a group. The hub counts a client's connections (several tabs of one
 * client are one presence) and, for the groups an app opts into, sends `join` and `leave` to the
 * group. A `PresenceStore` (e.g. `@ssehub/redis`) makes it cluster-wide.
 */

/** Which groups get `join` and `leave` events: a list of names, a pattern, or a test. */
export type PresenceGroups = readonly string[] | RegExp | ((group: string) => boolean);

/** Options of presence (`HubOptions.presence`). */
export interface PresenceOptions {
  /**
   * Groups whose members are told when a client comes and goes: `join` when a client's first
   * connection opens, `leave` when its last one closes (and the grace period passed), both with
   * data `{group, id}`, sent to the group like `sendGroup` (in the history, across the cluster).
   * Default: none. Give every hub of a cluster the same value.
   */
  readonly events?: PresenceGroups;
  /**
   * A client whose last connection closed stays present this long (default 5 000 ms): a reload
   * or a reconnect within it sends neither `leave` nor `join`.
   */
  readonly graceMs?: number;
}

/** One present client of a group. */
export interface PresenceClient {
  readonly id: string;
  /** Its open connections (tabs), on every node; 0 while it is within the grace period. */
  readonly connections: number;
  /** The meta the app attached to its first connection (`authorize`'s `meta`, a JWT's claims). */
  readonly meta: Readonly<Record<string, unknown>>;
}

/** Who is online in a group (`hub.presence(group)`, `GET {base}/presence/:group`). */
export interface Presence {
  readonly group: string;
  /** Present clients. */
  readonly count: number;
  /** Sorted by id. */
  readonly clients: readonly PresenceClient[];
}

/** A change of presence that a store decided cluster-wide: send the event to the group. */
export interface PresenceChange {
  readonly kind: 'join' | 'leave';
  readonly group: string;
  readonly id: string;
}

/** What a presence store may call on its hub. */
export interface PresenceNode {
  /** This node's present clients, for a full resynchronisation (after an outage). */
  snapshot(): { group: string; id: string; connections: number; meta: unknown }[];
  /** A client's first presence in the cluster began, or its last ended. */
  changed(change: PresenceChange): void;
  /** Reports a failure the store survived (the hub's `onError`). */
  onError(error: unknown, context: string): void;
}

/**
 * Keeps the presence of the clients of every node of a cluster (e.g. `@ssehub/redis`).
 *
 * Contract:
 * - `put` records (or updates) this node's presence of a client: its connection count here and
 *   its meta; `remove` ends it (the hub calls it once the grace period passed). Both are called
 *   in order and may be batched; the store decides across the cluster whether a put began the
 *   client's first presence (`changed` with `join`) or a remove ended its last (`leave`), and
 *   reports each once, on one node.
 * - When a node dies without removing its clients, the store removes them after a lease it
 *   documents, and reports the leaves through a live node.
 * - `list` answers the group's clients on every live node, connection counts summed.
 * - `start` is called once by the hub's constructor; `close` once by `hub.close()`.
 */
export interface PresenceStore {
  start(node: PresenceNode): void;
  put(group: string, id: string, connections: number, meta: unknown): void;
  remove(group: string, id: string): void;
  list(group: string): Promise<PresenceClient[]>;
  close(): void | Promise<void>;
}

/** Whether `group` gets `join` and `leave` events under `groups`. */
export function presenceEventsFor(groups: PresenceGroups | undefined): (group: string) => boolean {
  return groups === undefined ? () => false : groupMatcher(groups);
}

/**
 * A test for group names given as a list, a pattern or a test (presence events, per-group
 * metrics).
 */
export function groupMatcher(groups: PresenceGroups): (group: string) => boolean {
  if (typeof groups === 'function') return groups;
  if (groups instanceof RegExp) {
    // A global or sticky pattern remembers lastIndex between tests: test a copy without those.
    const pattern = new RegExp(groups.source, groups.flags.replace(/[gy]/g, ''));
    return (group) => pattern.test(group);
  }
  const names = new Set(groups);
  return (group) => names.has(group);
}
