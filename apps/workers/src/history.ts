/**
 * `DurableHistory`: the hub's replay history in a Durable Object's storage, so a client that
 * reconnects after the object restarted (a deploy, an eviction, a crash, `ctx.abort()`) still
 * gets what it missed.
 *
 * The retained events are mirrored in memory (at most `maxEvents`, 1 000 by default, loaded once
 * when the object starts), so `since` answers without a storage read; every `append` writes the
 * record and the sequence counter in one `put`, and resolves once storage has them.
 *
 * Ids are `<epoch>-<sequence>`. The sequence is persisted with every event, so ids keep their
 * order across restarts; the epoch is created with the storage, so ids from a wiped or other
 * object are unknown here (the client gets `reset`), never mistaken for ours.
 */

import type {
  HistoryRecord,
  HistoryStore,
  MemoryHistoryOptions,
  ReplayResult,
  Target,
} from '@ssehub/core';
import type { DurableObjectStorage } from './cloudflare.js';

/** Bounds of the history (the `SSE_HISTORY_MAX`, `SSE_HISTORY_MAX_AGE_MS` of `configFromEnv`). */
export type DurableHistoryOptions = Omit<MemoryHistoryOptions, 'now'> & {
  /** Clock, for tests. */
  now?: () => number;
};

/** One event as stored: the record without its cached bytes, and when it was appended. */
interface Stored {
  readonly id: string;
  readonly target: Target;
  readonly event: string | undefined;
  readonly data: string;
  readonly retry: number | undefined;
  readonly at: number;
}

interface Entry {
  readonly record: HistoryRecord;
  readonly seq: number;
  readonly at: number;
}

const EPOCH_KEY = 'history:epoch';
const SEQ_KEY = 'history:seq';
const EVENT_PREFIX = 'history:event:';
/** Durable Object storage takes at most 128 keys per `put` or `delete`. */
const MAX_KEYS = 128;

/** The storage key of an event: zero-padded so that key order is sequence order. */
const eventKey = (seq: number) => `${EVENT_PREFIX}${seq.toString().padStart(16, '0')}`;

export class DurableHistory implements HistoryStore {
  readonly #storage: DurableObjectStorage;
  readonly #epoch: string;
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #seq: number;
  #entries: Entry[];
  readonly #byId = new Map<string, number>();

  private constructor(
    storage: DurableObjectStorage,
    epoch: string,
    seq: number,
    entries: Entry[],
    options: DurableHistoryOptions,
  ) {
    this.#storage = storage;
    this.#epoch = epoch;
    this.#seq = seq;
    this.#entries = entries;
    this.#maxEvents = Math.max(0, options.maxEvents ?? 1000);
    this.#maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    for (const entry of entries) this.#byId.set(entry.record.id, entry.seq);
  }

  /**
   * Reads the history back from storage (call it inside `ctx.blockConcurrencyWhile`, so no request
   * sees the object before it is loaded). A new storage gets a new epoch.
   */
  static async load(
    storage: DurableObjectStorage,
    options: DurableHistoryOptions = {},
  ): Promise<DurableHistory> {
    let epoch = await storage.get<string>(EPOCH_KEY);
    if (epoch === undefined) {
      epoch = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
      await storage.put({ [EPOCH_KEY]: epoch });
    }
    const seq = (await storage.get<number>(SEQ_KEY)) ?? 0;
    const entries: Entry[] = [];
    for (const [key, stored] of await storage.list<Stored>({ prefix: EVENT_PREFIX })) {
      const { at, ...record } = stored;
      entries.push({ record: { ...record }, seq: Number(key.slice(EVENT_PREFIX.length)), at });
    }
    const history = new DurableHistory(storage, epoch, seq, entries, options);
    await history.#trim();
    return history;
  }

  /** Events currently retained. */
  get size(): number {
    return this.#entries.length;
  }

  /** An id naming the current end of the history: resuming from it replays what comes next. */
  get newestId(): string {
    return this.#entries[this.#entries.length - 1]?.record.id ?? `${this.#epoch}-${this.#seq}`;
  }

  async append(partial: Omit<HistoryRecord, 'id'>, appId: string | undefined): Promise<string> {
    const seq = ++this.#seq;
    const id = appId ?? `${this.#epoch}-${seq}`;
    const writes: Record<string, unknown> = { [SEQ_KEY]: seq };
    if (this.#maxEvents > 0) {
      const record = partial as HistoryRecord;
      record.id = id;
      const at = this.#now();
      this.#entries.push({ record, seq, at });
      this.#byId.set(id, seq);
      const stored: Stored = {
        id,
        target: record.target,
        event: record.event,
        data: record.data,
        retry: record.retry,
        at,
      };
      writes[eventKey(seq)] = stored;
    }
    // Storage applies a Durable Object's writes in the order they were made: ids stay ordered.
    await this.#storage.put(writes);
    await this.#trim();
    return id;
  }

  since(lastEventId: string, matches: (record: HistoryRecord) => boolean): ReplayResult {
    const oldest = this.#now() - this.#maxAgeMs;
    let start = 0;
    while (start < this.#entries.length && this.#entries[start]!.at < oldest) start++;
    const first = this.#entries[start];
    // An app id must still be retained; one of our ids names a position even when its event is
    // gone, as long as nothing after it was forgotten.
    let after = this.#byId.get(lastEventId);
    if (after === undefined && lastEventId.startsWith(`${this.#epoch}-`)) {
      const seq = Number(lastEventId.slice(this.#epoch.length + 1));
      if (Number.isSafeInteger(seq) && seq >= 0 && seq <= this.#seq) after = seq;
    }
    const oldestKept = first?.seq ?? this.#seq + 1;
    if (after === undefined || after < oldestKept - 1) {
      return { found: false, newestId: this.newestId };
    }
    const events: HistoryRecord[] = [];
    for (let i = start; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (entry.seq > after && matches(entry.record)) events.push(entry.record);
    }
    return { found: true, events };
  }

  /** Forgets what is past the bounds, in memory and in storage. */
  async #trim(): Promise<void> {
    const oldest = this.#now() - this.#maxAgeMs;
    let drop = 0;
    while (
      drop < this.#entries.length &&
      (this.#entries.length - drop > this.#maxEvents || this.#entries[drop]!.at < oldest)
    ) {
      drop++;
    }
    if (drop === 0) return;
    const gone = this.#entries.slice(0, drop);
    this.#entries = this.#entries.slice(drop);
    for (const { record, seq } of gone) {
      // Only forget the id if no newer record reused it.
      if (this.#byId.get(record.id) === seq) this.#byId.delete(record.id);
    }
    const keys = gone.map(({ seq }) => eventKey(seq));
    for (let i = 0; i < keys.length; i += MAX_KEYS)
      await this.#storage.delete(keys.slice(i, i + MAX_KEYS));
  }
}
