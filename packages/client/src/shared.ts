/**
 * Shared mode: one connection per stream for all tabs of an origin.
 *
 * Every tab that opens the stream asks for the same Web Lock
 * (https://developer.mozilla.org/docs/Web/API/Web_Locks_API); the tab that holds it is the
 * leader: it alone connects, and it posts every event and status change on a BroadcastChannel
 * (https://developer.mozilla.org/docs/Web/API/BroadcastChannel) of the same name. The other tabs
 * wait for the lock and follow the channel. When the leader's tab closes or crashes, the browser
 * hands the lock to the next waiting tab, which connects with the last event id it has seen, so the
 * server replays what the leader's end cut off. Events that then arrive twice (replayed, and
 * posted by the old leader before it went) are dropped by their id in every tab.
 */
import type { ClientStatus } from './client.js';

/** An event as the leader posts it. */
export interface SharedEvent {
  type: string;
  /** The event's data as received. */
  data: string;
  /** The `MessageEvent.lastEventId` the leader's connection gave it. */
  id: string;
  /** Whether the event carried an id of its own (not an earlier event's): then `id` names it. */
  fresh: boolean;
}

/** What goes over the channel. */
type Message =
  /** A tab joined, listening for `names`; the leader answers with `state`. */
  | { kind: 'hello'; names: string[] }
  /** A tab listens for more names. */
  | { kind: 'names'; names: string[] }
  /** The leader's status, the `connected` event of its connection once it came, and every name. */
  | { kind: 'state'; status: ClientStatus; connected: SharedEvent | undefined; names: string[] }
  | { kind: 'event'; event: SharedEvent };

/** What {@link SharedStream} asks of the client of its tab. */
export interface SharedHost {
  /** This tab now holds the lock: connect, observing `names` as well as its own. */
  lead(names: string[]): void;
  /** An event of the stream (from the leader, or from a former leader's last messages). */
  receive(event: SharedEvent): void;
  /** The leader's status changed (or this tab just joined). */
  follow(status: ClientStatus): void;
  /** Some tab listens for `names`: a leader observes them on its connection. */
  observe(names: string[]): void;
  /** The leader's status and its connection's `connected` event, for tabs that join. */
  state(): { status: ClientStatus; connected: SharedEvent | undefined };
  /** The browser refused the lock (e.g. an opaque origin): connect alone. */
  alone(): void;
}

/** Who holds the connection: this tab (`leader`), another tab (`follower`). */
export type SharedRole = 'leader' | 'follower';

interface LockManagerLike {
  request(
    name: string,
    options: { mode: 'exclusive'; signal: AbortSignal },
    callback: () => Promise<void>,
  ): Promise<unknown>;
}

function lockManager(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return typeof nav?.locks?.request === 'function' ? nav.locks : undefined;
}

/** Whether this runtime has both Web Locks and BroadcastChannel. */
export function sharingAvailable(): boolean {
  return lockManager() !== undefined && typeof globalThis.BroadcastChannel === 'function';
}

/** The tab's part in a shared stream: lock, channel and the messages between them. */
export class SharedStream {
  readonly #host: SharedHost;
  readonly #channel: BroadcastChannel;
  readonly #abort = new AbortController();
  /** Every name some tab listens for, as far as this tab has heard. */
  readonly #names = new Set<string>();
  #role: SharedRole = 'follower';
  /** Events that came before this tab's first `state`: dispatched after its `connected`. */
  #early: SharedEvent[] | undefined = [];
  #release: (() => void) | undefined;
  #left = false;

  /** Joins the stream named `key`, listening for `names`. Call only when {@link sharingAvailable}. */
  constructor(key: string, host: SharedHost, names: Iterable<string>) {
    this.#host = host;
    const name = `ssehub:${key}`;
    this.#channel = new BroadcastChannel(name);
    this.#channel.addEventListener('message', (event) => this.#onMessage(event.data as Message));
    for (const each of names) this.#names.add(each);
    this.#post({ kind: 'hello', names: [...this.#names] });
    lockManager()!
      .request(name, { mode: 'exclusive', signal: this.#abort.signal }, () => this.#lead())
      .catch(() => {
        // An AbortError after leave(): nothing to do. Anything else (a SecurityError in an
        // opaque origin, say) means this tab cannot share: it connects on its own.
        if (this.#left) return;
        this.leave();
        this.#host.alone();
      });
  }

  get role(): SharedRole {
    return this.#role;
  }

  /** This tab listens for a new name. */
  announce(name: string): void {
    if (this.#names.has(name)) return;
    this.#names.add(name);
    this.#post({ kind: 'names', names: [name] });
  }

  /** Leader: posts an event of its connection. */
  publish(event: SharedEvent): void {
    if (this.#role === 'leader') this.#post({ kind: 'event', event });
  }

  /** Leader: posts its status. */
  publishState(): void {
    if (this.#role !== 'leader') return;
    const { status, connected } = this.#host.state();
    this.#post({ kind: 'state', status, connected, names: [...this.#names] });
  }

  /** Leaves for good: gives the lock up (or stops waiting for it) and closes the channel. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#abort.abort();
    this.#release?.();
    this.#channel.close();
  }

  #lead(): Promise<void> {
    if (this.#left) return Promise.resolve();
    this.#role = 'leader';
    this.#flushEarly();
    // Held until leave(), or until the tab goes: then the browser passes it to the next tab.
    const held = new Promise<void>((resolve) => {
      this.#release = resolve;
    });
    this.#host.lead([...this.#names]);
    this.publishState();
    return held;
  }

  #flushEarly(): void {
    const early = this.#early;
    this.#early = undefined;
    for (const event of early ?? []) this.#host.receive(event);
  }

  #onMessage(message: Message): void {
    if (this.#left) return;
    switch (message.kind) {
      case 'hello':
      case 'names': {
        const added = message.names.filter((name) => !this.#names.has(name));
        for (const name of added) this.#names.add(name);
        if (this.#role === 'leader') {
          if (added.length) this.#host.observe(added);
          if (message.kind === 'hello') this.publishState();
        }
        break;
      }
      case 'state': {
        for (const name of message.names) this.#names.add(name);
        // A former leader's last word; this tab decides its own status now.
        if (this.#role === 'leader') break;
        this.#host.follow(message.status);
        if (this.#left) break; // the leader gave up: so does this tab
        if (this.#early) {
          if (message.connected) this.#host.receive(message.connected);
          this.#flushEarly();
        }
        break;
      }
      case 'event':
        if (this.#early) this.#early.push(message.event);
        else this.#host.receive(message.event);
        break;
    }
  }

  #post(message: Message): void {
    this.#channel.postMessage(message);
  }
}

/**
 * The ids of the latest events, to drop an event that arrives twice across a handover. Bounded:
 * a duplicate can only come from the few events around one.
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = 1024) {
    this.#capacity = capacity;
  }

  /** Records `id`; `false` when it was already there. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      // A Set iterates in insertion order: the first is the oldest.
      this.#ids.delete(this.#ids.values().next().value!);
    }
    return true;
  }
}
