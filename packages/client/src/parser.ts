/**
 * The event stream parser of the fetch transport, written from the WHATWG HTML standard,
 * "Server-sent events", section "Interpreting an event stream":
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 *
 * It takes the stream as decoded text, in chunks cut anywhere, and calls back with each event
 * the standard dispatches and each valid `retry`.
 */

/** One event, as the standard dispatches it to a `MessageEvent`. */
export interface StreamEvent {
  /** The `event` field, or `message` when there was none (or it was empty). */
  type: string;
  /** The `data` fields joined with LF. */
  data: string;
  /**
   * The stream's last event id once this event is dispatched: set by the latest `id` field,
   * even of an earlier event (the standard's "last event ID string").
   */
  lastEventId: string;
}

/** What the parser reports. */
export interface ParserCallbacks {
  onEvent(event: StreamEvent): void;
  /** A `retry` field of ASCII digits only: the new reconnection time, in ms. */
  onRetry?(ms: number): void;
  /** A line starting with a colon (without that colon). Servers send them as heartbeats. */
  onComment?(comment: string): void;
}

const LF = 10;
const CR = 13;
const BOM = '\uFEFF';

/**
 * A parser for one event source: feed it the decoded text of each connection, and `reset()`
 * between connections. The last event id carries across `reset()`, as the standard's does.
 */
export class EventStreamParser {
  readonly #callbacks: ParserCallbacks;
  /** The part of the current line received so far. */
  #line = '';
  /** The last chunk ended with CR: a LF at the start of the next one ends no new line. */
  #afterCR = false;
  /** Nothing of this connection's stream parsed yet: a BOM here is skipped. */
  #atStart = true;
  #data = '';
  #eventType = '';
  /** The "last event ID buffer": set by `id`, becomes the last event id at the next dispatch. */
  #idBuffer: string;
  #lastEventId: string;

  /** @param lastEventId - The last event id to start from (e.g. one sent as `Last-Event-ID`). */
  constructor(callbacks: ParserCallbacks, lastEventId = '') {
    this.#callbacks = callbacks;
    this.#idBuffer = lastEventId;
    this.#lastEventId = lastEventId;
  }

  /** The stream's last event id (the standard's "last event ID string"). */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Parses the next piece of the stream. */
  feed(chunk: string): void {
    if (chunk === '') return;
    let text = chunk;
    if (this.#atStart) {
      this.#atStart = false;
      if (text.startsWith(BOM)) text = text.slice(1);
    }
    let start = 0;
    if (this.#afterCR) {
      this.#afterCR = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code !== LF && code !== CR) continue;
      const line = this.#line + text.slice(start, i);
      this.#line = '';
      if (code === CR) {
        if (i + 1 === text.length) this.#afterCR = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
      this.#processLine(line);
    }
    if (start < text.length) this.#line += text.slice(start);
  }

  /**
   * The connection ended: an event not yet complete is discarded (as the standard says at the
   * end of the stream), and the next `feed` starts a new stream (a BOM is skipped again).
   */
  reset(): void {
    this.#line = '';
    this.#afterCR = false;
    this.#atStart = true;
    this.#data = '';
    this.#eventType = '';
    // An `id` of the unfinished event never took effect.
    this.#idBuffer = this.#lastEventId;
  }

  #processLine(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.#callbacks.onComment?.(line.slice(1));
      return;
    }
    let field = line;
    let value = '';
    if (colon > 0) {
      field = line.slice(0, colon);
      value = line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1);
    }
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        this.#data += `${value}\n`;
        break;
      case 'id':
        if (!value.includes('\0')) this.#idBuffer = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#callbacks.onRetry?.(Number.parseInt(value, 10));
        break;
      default:
      // Other fields are ignored.
    }
  }

  #dispatch(): void {
    this.#lastEventId = this.#idBuffer;
    if (this.#data === '') {
      this.#eventType = '';
      return;
    }
    const data = this.#data.slice(0, -1);
    const type = this.#eventType || 'message';
    this.#data = '';
    this.#eventType = '';
    this.#callbacks.onEvent({ type, data, lastEventId: this.#lastEventId });
  }
}
