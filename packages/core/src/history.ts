import type { Target } from './target.js';

/** An event as the history keeps it: already validated and serialised. */
export interface HistoryRecord {
  /** The event id (assigned by the store when the app gave none). */
  id: string;
  readonly target: Target;
  readonly event: string | undefined;
  /** The serialised payload. */
  readonly data: string;
  readonly retry: number | undefined;
  /** The encoded bytes, when the store keeps them (saves re-encoding on replay). */
  bytes?: Uint8Array;
}

/** What the history holds after a client's Last-Event-ID. */
export type ReplayResult =
  | {
      readonly found: true;
      readonly events: readonly HistoryRecord[];
      /**
       * Ids at or before `lastEventId` that may still reach this hub live while it replays (a
       * shared store whose messages arrive late on this node). The client has them already: the
       * hub drops them from the live events it held back during replay.
       */
      readonly seen?: readonly string[];
    }
  /** The id is unknown or older than the history: the client must refetch its state. */
  | { readonly found: false; readonly newestId: string | undefined };

/**
 * Where the hub keeps recent events for Last-Event-ID replay.
 *
 * Contract:
 * - `append` stores the record and returns its id: the app's id when `appId` is given, otherwise a
 *   new id that sorts after every id this store returned before. Once it returns (or resolves),
 *   the event is retained and `since` sees it.
 * - `since` returns, oldest first, every retained record after `lastEventId` for which `matches`
 *   is true, or `found: false` when `lastEventId` is not retained.
 * Either may be synchronous (memory) or asynchronous (a shared store such as Redis).
 */
export interface HistoryStore {
  append(record: Omit<HistoryRecord, 'id'>, appId: string | undefined): string | Promise<string>;
  since(
    lastEventId: string,
    matches: (record: HistoryRecord) => boolean,
  ): ReplayResult | Promise<ReplayResult>;
  close?(): void | Promise<void>;
}

/** Bounds of the in-memory history. */
export interface MemoryHistoryOptions {
  /** Events kept at most (default 1 000). */
  maxEvents?: number;
  /** Age after which an event is forgotten, in ms (default 5 minutes). */
  maxAgeMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

let epochCounter = 0;

/**
 * The default history: a bounded in-memory log. Ids are `<epoch>-<sequence>`; the epoch is unique
 * to this store, so ids from an earlier process are unknown (and get a `reset`), never confused.
 * Retained events are kept in parallel arrays (record, time; the sequence is the position), so an
 * append allocates nothing but its id.
 */
export class MemoryHistory implements HistoryStore {
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #epoch = `${Date.now().toString(36)}${(epochCounter++).toString(36)}`;
  #records: HistoryRecord[] = [];
  /** When each record was appended (unboxed doubles). */
  #times: number[] = [];
  /** Index of the oldest retained record. */
  #head = 0;
  /** Sequence of the record at index 0 (sequences are consecutive). */
  #base = 1;
  #seq = 0;
  /** App-chosen ids of retained events; the store's own ids are found from their sequence. */
  readonly #byId = new Map<string, number>();

  constructor(options: MemoryHistoryOptions = {}) {
    this.#maxEvents = Math.max(0, options.maxEvents ?? 1000);
    this.#maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Events currently retained. */
  get size(): number {
    return this.#records.length - this.#head;
  }

  append(partial: Omit<HistoryRecord, 'id'>, appId: string | undefined): string {
    const seq = ++this.#seq;
    const id = appId ?? `${this.#epoch}-${seq}`;
    if (this.#maxEvents === 0) {
      this.#base = seq + 1;
      return id;
    }
    const record = partial as HistoryRecord;
    record.id = id;
    const now = this.#now();
    this.#records.push(record);
    this.#times.push(now);
    if (appId !== undefined) this.#byId.set(id, seq);
    this.#trim(now);
    return id;
  }

  since(lastEventId: string, matches: (record: HistoryRecord) => boolean): ReplayResult {
    this.#trim();
    const records = this.#records;
    // The position after which to replay: an app id must still be retained; one of our own ids
    // names a position even when its event is gone, as long as nothing after it was forgotten.
    let after = this.#byId.get(lastEventId);
    if (after === undefined && lastEventId.startsWith(`${this.#epoch}-`)) {
      const seq = Number(lastEventId.slice(this.#epoch.length + 1));
      if (Number.isSafeInteger(seq) && seq >= 0 && seq <= this.#seq) after = seq;
    }
    const oldestKept = this.#base + this.#head;
    if (after === undefined || after < oldestKept - 1) {
      return { found: false, newestId: this.newestId };
    }
    const events: HistoryRecord[] = [];
    for (let i = this.#head + Math.max(0, after - oldestKept + 1); i < records.length; i++) {
      const record = records[i]!;
      if (matches(record)) events.push(record);
    }
    return { found: true, events };
  }

  /** An id naming the current end of the history: resuming from it replays what comes next. */
  get newestId(): string {
    return this.#records[this.#records.length - 1]?.id ?? `${this.#epoch}-${this.#seq}`;
  }

  close(): void {
    this.#base += this.#records.length;
    this.#records = [];
    this.#times = [];
    this.#head = 0;
    this.#byId.clear();
  }

  #trim(now = this.#now()): void {
    const oldest = now - this.#maxAgeMs;
    const records = this.#records;
    const times = this.#times;
    while (this.#head < records.length) {
      if (records.length - this.#head <= this.#maxEvents && times[this.#head]! >= oldest) break;
      // Only forget an app's id if no newer record reused it.
      if (this.#byId.size !== 0) {
        const { id } = records[this.#head]!;
        if (this.#byId.get(id) === this.#base + this.#head) this.#byId.delete(id);
      }
      this.#head++;
    }
    // Compact once the dead prefix dominates, so trimming stays O(1) amortised.
    if (this.#head > 1024 && this.#head * 2 > records.length) {
      this.#records = records.slice(this.#head);
      this.#times = times.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
  }
}
