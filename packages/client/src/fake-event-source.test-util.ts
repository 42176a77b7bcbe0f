import type { EventSourceLike } from './client.js';

/**
 * An EventSource double that tests drive by hand: `open()`, `emit()`, `fail()`. Every instance is
 * recorded in `FakeEventSource.instances`, newest last.
 */
export class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;

  /** The newest instance. */
  static get last(): FakeEventSource {
    const last = FakeEventSource.instances.at(-1);
    if (!last) throw new Error('no FakeEventSource was created');
    return last;
  }

  static reset(): void {
    FakeEventSource.instances = [];
  }

  readyState = FakeEventSource.CONNECTING;
  /** Listeners per type, to check that the client detaches from a replaced EventSource. */
  readonly listenerCounts = new Map<string, number>();
  readonly withCredentials: boolean;
  readonly #target = new EventTarget();
  #lastEventId = '';

  constructor(
    readonly url: string,
    init?: { withCredentials?: boolean },
  ) {
    this.withCredentials = init?.withCredentials ?? false;
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.listenerCounts.set(type, (this.listenerCounts.get(type) ?? 0) + 1);
    this.#target.addEventListener(type, listener as EventListener);
  }

  removeEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.listenerCounts.set(type, (this.listenerCounts.get(type) ?? 0) - 1);
    this.#target.removeEventListener(type, listener as EventListener);
  }

  /** Dispatches any event, e.g. one the spec would not produce. */
  dispatchEvent(event: Event): void {
    this.#target.dispatchEvent(event);
  }

  open(): void {
    this.readyState = FakeEventSource.OPEN;
    this.dispatchEvent(new Event('open'));
  }

  /** Dispatches an event as the spec does: `id` updates the last event id, even to ''. */
  emit(type: string, data: string, id?: string): void {
    if (this.readyState === FakeEventSource.CLOSED) return;
    if (id !== undefined) this.#lastEventId = id;
    this.dispatchEvent(new MessageEvent(type, { data, lastEventId: this.#lastEventId }));
  }

  /** Fires `error` with the given readyState: CONNECTING (browser retries) or CLOSED (gave up). */
  fail(readyState: number = FakeEventSource.CONNECTING): void {
    this.readyState = readyState;
    this.dispatchEvent(new Event('error'));
  }

  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }
}
