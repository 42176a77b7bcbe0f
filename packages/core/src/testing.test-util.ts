import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { DisconnectReason } from './connection.js';
import type { Sink } from './sink.js';

/** An in-memory sink that records what the hub wrote, parsed as a client would. */
export class MemorySink implements Sink {
  chunks: Uint8Array[] = [];
  events: EventSourceMessage[] = [];
  comments: string[] = [];
  retries: number[] = [];
  closed = false;
  /** What `write` answers: false simulates a full transport. */
  accept = true;
  readonly #parser = createParser({
    onEvent: (event) => this.events.push(event),
    onComment: (comment) => this.comments.push(comment),
    onRetry: (retry) => this.retries.push(retry),
  });
  readonly #decoder = new TextDecoder();

  write(chunk: Uint8Array): boolean {
    this.chunks.push(chunk);
    this.#parser.feed(this.#decoder.decode(chunk, { stream: true }));
    return this.accept;
  }

  /** The reason the hub gave to `close`. */
  closeReason: DisconnectReason | undefined;

  close(reason: DisconnectReason): void {
    this.closed = true;
    this.closeReason = reason;
  }

  /** Events other than the hub's own `connected`. */
  get appEvents(): EventSourceMessage[] {
    return this.events.filter((e) => e.event !== 'connected');
  }

  text(): string {
    return this.chunks.map((c) => new TextDecoder().decode(c)).join('');
  }
}

/** Lets queued microtasks (the hub's flush) run. */
export const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
