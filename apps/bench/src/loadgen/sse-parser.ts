/**
 * A deliberately minimal HTTP/1.1 + SSE response parser for the load generator.
 *
 * It reads the status line and headers, undoes `Transfer-Encoding: chunked` framing and scans the
 * body line by line. It does not build event objects: it only reports events whose `data:` carries
 * a send timestamp (`"t":<ms>`), with that timestamp and the phase tag (`"k":<n>`) when present,
 * which is all the benchmark needs. Kept allocation-light because thousands of these run in one
 * process beside the server under test.
 */

const LF = 0x0a;
const CR = 0x0d;
const HEAD_END = Buffer.from('\r\n\r\n');
const DATA_PREFIX = Buffer.from('data:');
const T_MARKER = Buffer.from('"t":');
const K_MARKER = Buffer.from('"k":');

enum State {
  Head = 0,
  ChunkSize = 1,
  ChunkData = 2,
  ChunkDataEnd = 3,
  Body = 4,
  Done = 5,
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
  private chunkSizeText = '';
  /** Bytes of an incomplete body line carried to the next read. */
  private partial: Buffer | null = null;
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

  /** Feeds bytes read from the socket. */
  push(buf: Buffer): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.state) {
        case State.Head: {
          const data = this.head
            ? Buffer.concat([this.head, buf.subarray(pos)])
            : buf.subarray(pos);
          const end = data.indexOf(HEAD_END);
          if (end === -1) {
            this.head = Buffer.from(data);
            return;
          }
          this.parseHead(data.toString('latin1', 0, end));
          this.head = null;
          // Continue with whatever followed the head, in `data`'s coordinates.
          this.state = this.chunked ? State.ChunkSize : State.Body;
          this.headComplete = true;
          this.push(data.subarray(end + 4));
          return;
        }
        case State.ChunkSize: {
          const nl = buf.indexOf(LF, pos);
          if (nl === -1) {
            this.chunkSizeText += buf.toString('latin1', pos, len);
            return;
          }
          this.chunkSizeText += buf.toString('latin1', pos, nl);
          pos = nl + 1;
          const size = Number.parseInt(this.chunkSizeText, 16);
          this.chunkSizeText = '';
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
          const end = Math.min(len, pos + this.chunkRemaining);
          this.body(buf, pos, end);
          this.chunkRemaining -= end - pos;
          pos = end;
          if (this.chunkRemaining === 0) {
            this.chunkRemaining = 2;
            this.state = State.ChunkDataEnd;
          }
          break;
        }
        case State.ChunkDataEnd: {
          // Skip the CRLF after chunk data.
          const skip = Math.min(this.chunkRemaining, len - pos);
          pos += skip;
          this.chunkRemaining -= skip;
          if (this.chunkRemaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Body:
          this.body(buf, pos, len);
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

  /** Scans body bytes [start, end) line by line. */
  private body(buf: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) {
        const rest = buf.subarray(pos, end);
        this.partial = this.partial ? Buffer.concat([this.partial, rest]) : Buffer.from(rest);
        return;
      }
      if (this.partial) {
        const line = Buffer.concat([this.partial, buf.subarray(pos, nl)]);
        this.partial = null;
        this.line(line, 0, line.length);
      } else {
        this.line(buf, pos, nl);
      }
      pos = nl + 1;
    }
  }

  /** Handles one line [start, end) without its LF. */
  private line(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    if (end === start) {
      // Blank line: dispatch.
      if (!Number.isNaN(this.pendingT)) {
        const t = this.pendingT;
        this.pendingT = Number.NaN;
        this.onEvent(t, this.pendingK);
      }
      return;
    }
    if (end - start < 5 || buf.compare(DATA_PREFIX, 0, 5, start, start + 5) !== 0) return;
    const t = numberAfter(buf, T_MARKER, start + 5, end);
    if (Number.isNaN(t)) return;
    this.pendingT = t;
    const k = numberAfter(buf, K_MARKER, start + 5, end);
    this.pendingK = Number.isNaN(k) ? -1 : k;
  }
}

/** The JSON number right after `marker` within [from, end), or NaN. */
function numberAfter(buf: Buffer, marker: Buffer, from: number, end: number): number {
  const at = buf.indexOf(marker, from);
  if (at === -1 || at >= end) return Number.NaN;
  const p = at + marker.length;
  let q = p;
  while (q < end) {
    const c = buf[q]!;
    if ((c < 0x30 || c > 0x39) && c !== 0x2e && c !== 0x2d && c !== 0x65 && c !== 0x2b) break;
    q++;
  }
  return q > p ? Number(buf.toString('latin1', p, q)) : Number.NaN;
}
