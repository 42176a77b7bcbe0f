import { SSEError } from './errors.js';

/**
 * Spec-exact Server-Sent Events encoding (WHATWG HTML, "Server-sent events").
 *
 * Every field value is written as `name: value` (one space, which the parser strips), data is
 * split into one `data:` line per line of the payload (CRLF, LF and lone CR all end a line, as the
 * parser reads them), and an event ends with an empty line. Event names and ids are the only
 * fields a parser cannot carry a line break in, so values with CR, LF or NUL are refused.
 */

const encoder = new TextEncoder();
const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

/** An event as written to the wire. */
export interface EncodableEvent {
  /** The event type; the browser dispatches `message` when absent. */
  event?: string | undefined;
  /** The payload: strings go as they are, anything else as JSON. `undefined` writes no data line. */
  data?: unknown;
  /** The event id; the browser sends it back as `Last-Event-ID` when it reconnects. */
  id?: string | undefined;
  /** Reconnection delay for the browser, in milliseconds. */
  retry?: number | undefined;
}

/** Throws unless `name` can be written as an `event:` field. */
export function assertEventName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || FORBIDDEN_IN_FIELD.test(name)) {
    throw new SSEError(
      'invalid_event_name',
      `Invalid event name ${JSON.stringify(name)}: it must be a non-empty string without CR, LF or NUL.`,
    );
  }
}

/** Throws unless `id` can be written as an `id:` field. */
export function assertEventId(id: string): void {
  if (typeof id !== 'string' || FORBIDDEN_IN_FIELD.test(id)) {
    throw new SSEError(
      'invalid_event_id',
      `Invalid event id ${JSON.stringify(id)}: it must be a string without CR, LF or NUL.`,
    );
  }
}

/**
 * The longest event id the hub sends, in UTF-16 code units. The browser sends the last id back in
 * the `Last-Event-ID` header when it reconnects, and the stream route refuses longer values.
 */
export const MAX_EVENT_ID_LENGTH = 256;

/** Throws unless `retry` is a non-negative integer. */
export function assertRetry(retry: number): void {
  if (!Number.isSafeInteger(retry) || retry < 0) {
    throw new SSEError(
      'invalid_retry',
      `Invalid retry ${retry}: it must be a non-negative integer.`,
    );
  }
}

/**
 * Serialises a payload once: strings as they are, everything else with `JSON.stringify`.
 * Cycles, BigInt and values JSON cannot represent (functions, symbols, `undefined`) are an error.
 */
export function serializeData(data: unknown): string {
  if (typeof data === 'string') return data;
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (cause) {
    throw new SSEError(
      'unserializable_data',
      `Event data cannot be serialised to JSON: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (json === undefined) {
    throw new SSEError(
      'unserializable_data',
      `Event data of type ${typeof data} has no JSON form.`,
    );
  }
  return json;
}

/** One `data:` line per line of `text`. */
export function dataLines(text: string): string {
  if (!LINE_BREAK.test(text)) return `data: ${text}\n`;
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `data: ${line}\n`;
  return out;
}

/** Encodes an event to its text form, validating every field. */
export function formatEvent(event: EncodableEvent): string {
  let out = '';
  if (event.event !== undefined) {
    assertEventName(event.event);
    out += `event: ${event.event}\n`;
  }
  if (event.id !== undefined) {
    assertEventId(event.id);
    out += event.id === '' ? 'id\n' : `id: ${event.id}\n`;
  }
  if (event.retry !== undefined) {
    assertRetry(event.retry);
    out += `retry: ${event.retry}\n`;
  }
  if (event.data !== undefined) out += dataLines(serializeData(event.data));
  // An event with no data is not dispatched by the parser; a lone id or retry still takes effect.
  return `${out}\n`;
}

/** Encodes an event to UTF-8 bytes. Encode once, write the same bytes to every recipient. */
export function encodeEvent(event: EncodableEvent): Uint8Array {
  return encoder.encode(formatEvent(event));
}

/** Encodes a comment (ignored by clients; used for heartbeats and padding). */
export function encodeComment(text = ''): Uint8Array {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += line === '' ? ':\n' : `: ${line}\n`;
  return encoder.encode(`${out}\n`);
}

/** Encodes a bare `retry:` field. */
export function encodeRetry(ms: number): Uint8Array {
  assertRetry(ms);
  return encoder.encode(`retry: ${ms}\n\n`);
}

/** UTF-8 encodes a string (shared encoder). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Size of the blocks that a `TickEncoder` encodes into. */
const BLOCK_SIZE = 256 * 1024;
/** Longer text gets a buffer of its own (its UTF-8 form is at most 3 bytes per code unit). */
const MAX_TICK_TEXT_LENGTH = 4 * 1024;
/** Blocks kept for the next tick after a release; a larger tick allocates the rest anew. */
const MAX_KEPT_BLOCKS = 64;

/**
 * UTF-8 encodes text that leaves within the current tick (a unicast event for one connection):
 * into the free part of a block, so that an event costs no buffer of its own. The views stay
 * valid until `release()`, which the owner calls once every view it handed out was written (or
 * dropped): the blocks are then written over by the next tick's text.
 */
export class TickEncoder {
  #blocks: Uint8Array[] = [];
  #block = 0;
  #used = 0;
  #encoded = 0;
  /** Blocks that the largest tick since the last `trim()` used. */
  #peak = 0;

  /** Texts encoded so far (to tell whether any was encoded since a moment). */
  get encoded(): number {
    return this.#encoded;
  }

  encode(text: string): Uint8Array {
    if (text.length > MAX_TICK_TEXT_LENGTH) return encoder.encode(text);
    this.#encoded++;
    let block = this.#blocks[this.#block];
    if (block === undefined || BLOCK_SIZE - this.#used < text.length * 3) {
      if (block !== undefined) this.#block++;
      block = this.#blocks[this.#block] ??= new Uint8Array(BLOCK_SIZE);
      this.#used = 0;
    }
    const start = this.#used;
    this.#used += encoder.encodeInto(text, block.subarray(start)).written;
    return block.subarray(start, this.#used);
  }

  /** Every view handed out is dead: the blocks are reused from the start. */
  release(): void {
    this.#peak = Math.max(this.#peak, this.#inUse());
    if (this.#blocks.length > MAX_KEPT_BLOCKS) this.#blocks.length = MAX_KEPT_BLOCKS;
    this.#block = 0;
    this.#used = 0;
  }

  /**
   * Lets go of the blocks that no tick since the last call needed (call it now and then: a burst
   * leaves its blocks behind, at most `MAX_KEPT_BLOCKS`, until a quieter while has passed).
   */
  trim(): void {
    const keep = Math.max(this.#peak, this.#inUse());
    if (this.#blocks.length > keep) this.#blocks.length = keep;
    this.#peak = 0;
  }

  /** Blocks the current tick has written to. */
  #inUse(): number {
    return this.#used > 0 ? this.#block + 1 : this.#block;
  }
}

/** The fields of an event that the hub already validated (its records, a queued unicast). */
export interface CheckedEvent {
  readonly event: string | undefined;
  readonly id: string;
  readonly retry: number | undefined;
  readonly data: string;
}

/**
 * The text of an event whose fields were validated when it was sent: `event:` (when set), `id:`,
 * `retry:` (when set), one `data:` line per line of data, and the blank line. With `oneLine` the
 * data is known to have no line break (JSON text never has one) and is not scanned for one.
 */
export function checkedEventText(event: CheckedEvent, oneLine = false): string {
  const head = event.event === undefined ? '' : `event: ${event.event}\n`;
  const retry = event.retry === undefined ? '' : `retry: ${event.retry}\n`;
  const data = oneLine ? `data: ${event.data}\n` : dataLines(event.data);
  return `${head}id: ${event.id}\n${retry}${data}\n`;
}
