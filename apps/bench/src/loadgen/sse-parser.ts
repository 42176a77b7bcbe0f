/**
 * A deliberately minimal HTTP/1.1 + SSE response parser for the load generator.
 *
 * It reads the status line and headers, undoes `Transfer-Encoding: chunked` framing and scans the
 * body. It does not build event objects: it only reports events whose `data:` carries a send
 * timestamp (`"t":<ms>`), with that timestamp and the phase tag (`"k":<n>`) when present, which is
 * all the benchmark needs. Thousands of these run in one process beside the server under test, so
 * the body is read in one pass over its bytes, one byte at a time, with the state of a line kept
 * between reads: no search calls, strings or buffers per line or event (a per-line search and the
 * number's string cost more per event than a whole pass over its bytes).
 *
 * Numbers are read as JSON writes them for a timestamp or a tag: an optional minus sign, digits
 * and a fraction (`JSON.stringify` uses no exponent below 1e21).
 */

const HEAD_END = Buffer.from('\r\n\r\n');

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COLON = 0x3a;
const DOT = 0x2e;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const T = 0x74;
const K = 0x6b;
/** `data:`, matched at the start of a line. */
const DATA = [0x64, 0x61, 0x74, 0x61, 0x3a];

enum State {
  Head = 0,
  ChunkSize = 1,
  ChunkData = 2,
  ChunkDataEnd = 3,
  Body = 4,
  Done = 5,
}

/** Where the body scan is within a line. */
enum Line {
  /** At the start of a line, `matched` bytes of `data:` seen. */
  Start = 0,
  /** In a line that is not a data line: skipped. */
  Skip = 1,
  /** In a data line, outside a number of interest. */
  Data = 2,
  /** In the number after `"t":` or `"k":`. */
  Number = 3,
}

/** Called once per completed event whose data embeds a timestamp; `phase` is -1 without a tag. */
export type OnTimedEvent = (sentAt: number, phase: number) => void;

export class SseResponseParser {
  /** HTTP status code, 0 until the head has been read. */
  status = 0;
  /** True once the status line and headers have been read. */
  headComplete = false;
  /** True when the body used chunked transfer encoding. */
  chunked = false;
  /** True when the server ended the body (terminal chunk). */
  ended = false;

  private state = State.Head;
  private head: Buffer | null = null;
  private chunkRemaining = 0;
  private chunkSize = 0;
  /** In a chunk-size line, past its hex digits (an extension or the CR). */
  private chunkSizeDone = false;

  // The body scan (see `body`).
  private line = Line.Start;
  /** Bytes of `data:` matched at the start of the line. */
  private matched = 0;
  /** The last three bytes of a data line, to recognise `"t":` and `"k":`. */
  private prev1 = 0;
  private prev2 = 0;
  private prev3 = 0;
  /** The number being read: `t` (true) or `k`. */
  private numberIsT = false;
  /** Integer part, fraction digits as an integer, and 10^(fraction digits) (0: no point yet). */
  private numberValue = 0;
  private numberFraction = 0;
  private numberScale = 0;
  private numberNegative = false;
  private numberDigits = 0;
  /** A tag was read in the current line. */
  private seenK = false;
  /** Timestamp seen in the current event's data, NaN when none. */
  private pendingT = Number.NaN;
  private pendingK = -1;

  constructor(private readonly onEvent: OnTimedEvent) {}

  /**
   * HTTP/2: the head arrived as a HEADERS frame and the body comes unframed (DATA frames, no
   * chunked encoding): read what is pushed from now on as the body.
   */
  startBody(status: number): void {
    this.status = status;
    this.headComplete = true;
    this.state = State.Body;
  }

  /** Feeds bytes read from the socket: `buf[0, end)`. */
  push(buf: Buffer, end = buf.length): void {
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case State.Head: {
          const data = this.head
            ? Buffer.concat([this.head, buf.subarray(pos, end)])
            : buf.subarray(pos, end);
          const headEnd = data.indexOf(HEAD_END);
          if (headEnd === -1) {
            this.head = Buffer.from(data);
            return;
          }
          this.parseHead(data.toString('latin1', 0, headEnd));
          this.head = null;
          // Continue with whatever followed the head, in `data`'s coordinates.
          this.state = this.chunked ? State.ChunkSize : State.Body;
          this.headComplete = true;
          this.push(data.subarray(headEnd + 4));
          return;
        }
        case State.ChunkSize: {
          // Hex digits, then (ignored) an extension and CR, up to LF.
          while (pos < end) {
            const c = buf[pos++]!;
            if (c === LF) break;
            const digit = hexDigit(c);
            if (digit === -1 || this.chunkSizeDone) this.chunkSizeDone = true;
            else this.chunkSize = this.chunkSize * 16 + digit;
            if (pos === end) return;
          }
          const size = this.chunkSize;
          this.chunkSize = 0;
          this.chunkSizeDone = false;
          if (size === 0) {
            this.state = State.Done;
            this.ended = true;
            return;
          }
          this.chunkRemaining = size;
          this.state = State.ChunkData;
          break;
        }
        case State.ChunkData: {
          const stop = Math.min(end, pos + this.chunkRemaining);
          this.body(buf, pos, stop);
          this.chunkRemaining -= stop - pos;
          pos = stop;
          if (this.chunkRemaining === 0) {
            this.chunkRemaining = 2;
            this.state = State.ChunkDataEnd;
          }
          break;
        }
        case State.ChunkDataEnd: {
          // Skip the CRLF after chunk data.
          const skip = Math.min(this.chunkRemaining, end - pos);
          pos += skip;
          this.chunkRemaining -= skip;
          if (this.chunkRemaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Body:
          this.body(buf, pos, end);
          return;
        case State.Done:
          return;
      }
    }
  }

  private parseHead(text: string): void {
    const firstSpace = text.indexOf(' ');
    this.status = Number.parseInt(text.slice(firstSpace + 1, firstSpace + 4), 10);
    this.chunked = /\r\ntransfer-encoding:[ \t]*chunked/i.test(text);
  }

  /** Scans body bytes [start, end), carrying the line's state to the next call. */
  private body(buf: Buffer, start: number, end: number): void {
    let line = this.line;
    let matched = this.matched;
    let prev1 = this.prev1;
    let prev2 = this.prev2;
    let prev3 = this.prev3;
    for (let pos = start; pos < end; pos++) {
      const c = buf[pos]!;
      if (line === Line.Number) {
        if (c >= ZERO && c <= NINE) {
          this.numberDigits++;
          if (this.numberScale === 0) this.numberValue = this.numberValue * 10 + (c - ZERO);
          else {
            this.numberFraction = this.numberFraction * 10 + (c - ZERO);
            this.numberScale *= 10;
          }
          continue;
        }
        if (c === DOT && this.numberScale === 0) {
          this.numberScale = 1;
          continue;
        }
        if (c === MINUS && this.numberDigits === 0 && !this.numberNegative) {
          this.numberNegative = true;
          continue;
        }
        this.endNumber();
        line = Line.Data;
        if (this.seenK && !Number.isNaN(this.pendingT)) {
          // Both numbers read: the rest of the line (the padding) is skipped in one search.
          const lf = buf.indexOf(LF, pos);
          line = Line.Skip;
          if (lf === -1 || lf >= end) break;
          pos = lf - 1;
          continue;
        }
        // This byte ends the number; it is read as part of the data line below.
      }
      if (c === LF) {
        if (line === Line.Start && matched === 0) this.dispatch();
        line = Line.Start;
        matched = 0;
        prev1 = prev2 = prev3 = 0;
        this.seenK = false;
        continue;
      }
      if (c === CR) continue;
      if (line === Line.Start) {
        if (c === DATA[matched]) {
          if (++matched === DATA.length) line = Line.Data;
        } else line = Line.Skip;
        continue;
      }
      if (line === Line.Data) {
        if (c === COLON && prev1 === QUOTE && prev3 === QUOTE && (prev2 === T || prev2 === K)) {
          line = Line.Number;
          this.numberIsT = prev2 === T;
          this.numberValue = 0;
          this.numberFraction = 0;
          this.numberScale = 0;
          this.numberNegative = false;
          this.numberDigits = 0;
        }
        prev3 = prev2;
        prev2 = prev1;
        prev1 = c;
      }
    }
    this.line = line;
    this.matched = matched;
    this.prev1 = prev1;
    this.prev2 = prev2;
    this.prev3 = prev3;
  }

  private endNumber(): void {
    if (this.numberDigits === 0) return;
    const magnitude =
      this.numberScale > 1
        ? this.numberValue + this.numberFraction / this.numberScale
        : this.numberValue;
    const value = this.numberNegative ? -magnitude : magnitude;
    if (this.numberIsT) this.pendingT = value;
    else {
      this.pendingK = value;
      this.seenK = true;
    }
  }

  /** A blank line: the event ends. */
  private dispatch(): void {
    if (Number.isNaN(this.pendingT)) {
      this.pendingK = -1;
      return;
    }
    const t = this.pendingT;
    const k = this.pendingK;
    this.pendingT = Number.NaN;
    this.pendingK = -1;
    this.onEvent(t, k);
  }
}

/** The value of a hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
