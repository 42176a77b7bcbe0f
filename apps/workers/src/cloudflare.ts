/**
 * The few Workers APIs this app uses, typed here so `tsc` checks it without
 * `@cloudflare/workers-types` (whose globals clash with the DOM and Node types of the workspace).
 *
 * - Durable Objects: https://developers.cloudflare.com/durable-objects/api/
 * - Storage: https://developers.cloudflare.com/durable-objects/api/storage-api/
 * - State (`blockConcurrencyWhile`, `abort`): https://developers.cloudflare.com/durable-objects/api/state/
 */

/** The key-value part of a Durable Object's storage (`ctx.storage`). */
export interface DurableObjectStorage {
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Keys in ascending (UTF-8 byte) order. */
  list<T = unknown>(options?: { prefix?: string }): Promise<Map<string, T>>;
  /** At most 128 keys per call. */
  put(entries: Record<string, unknown>): Promise<void>;
  /** At most 128 keys per call. */
  delete(keys: string[]): Promise<number>;
}

/** `ctx` of a Durable Object. */
export interface DurableObjectState {
  readonly storage: DurableObjectStorage;
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
  /** Resets the object: the next request constructs it anew (in-memory state is lost). */
  abort(reason?: string): void;
}

export interface DurableObjectId {
  toString(): string;
}

export interface DurableObjectStub {
  fetch(request: Request): Promise<Response>;
}

/** A Durable Object namespace binding (`env.HUB`). */
export interface DurableObjectNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
}
