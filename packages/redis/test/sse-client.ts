import { parseEvents, type Received } from './helpers.js';

/** An EventSource-like client over fetch: reads one stream, remembers what it got. */
export class FetchClient {
  readonly received: Received[] = [];
  /** Settles when the stream ends; never rejects (see `error`). */
  readonly done: Promise<void>;
  /** Why the stream failed, when it did not end by `close()`. */
  error: unknown;
  readonly lastEventIdSent: string | undefined;
  #abort = new AbortController();

  constructor(url: string, lastEventId?: string) {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    this.lastEventIdSent = lastEventId;
    this.done = this.#read(url, headers).catch((error) => {
      this.error = error;
    });
  }

  async #read(url: string, headers: Record<string, string>): Promise<void> {
    try {
      const response = await fetch(url, { headers, signal: this.#abort.signal });
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      const decoder = new TextDecoder();
      let rest = '';
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const parsed = parseEvents(rest + decoder.decode(value, { stream: true }));
        rest = parsed.rest;
        this.received.push(...parsed.events);
      }
    } catch (error) {
      if (!this.#abort.signal.aborted) throw error;
    }
  }

  get events(): Received[] {
    return this.received.filter((e) => e.event !== 'connected');
  }

  get connected(): boolean {
    return this.received.some((e) => e.event === 'connected');
  }

  get lastId(): string | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const id = this.received[i]!.id;
      if (id !== undefined) return id;
    }
    return undefined;
  }

  close(): Promise<void> {
    this.#abort.abort();
    return this.done;
  }
}
