import type { DisconnectReason, Queued } from './connection.js';

/**
 * The transport boundary: how the hub writes to one HTTP response.
 *
 * An adapter implements `Sink` over its response (a node:http `ServerResponse`, a Web Streams
 * controller, ...) and reports back to the `Connection` that `hub.connect` returned:
 * - `connection.drain()` when a transport that refused more bytes (write returned false) can
 *   take more (node:http `'drain'`, a stream's `pull`);
 * - `connection.closed()` when the peer went away (node:http `'close'`, a stream's `cancel`).
 */
export interface Sink {
  /**
   * Writes bytes. The transport takes them in any case; `false` says its buffer is full, and the
   * hub queues further events for this connection (within its bounds) until `drain()`.
   * Must not throw; a broken transport reports through `connection.closed()`.
   */
  write(chunk: Uint8Array): boolean;
  /**
   * Optional: writes `parts`, in order, as one chunk of `length` bytes. A part is bytes (an event,
   * never to be modified: shared by its recipients, or a unicast event in a block the hub writes
   * over once the flush is done) or text made only of printable ASCII, tab, CR and LF (its length
   * is its byte length: write it one byte per character). When present, the hub calls this
   * instead of `write`, and the adapter copies the parts into its own buffer (with its framing)
   * before it returns: no joined chunk first. Never keep a part, nor `parts`, which is the hub's
   * to reuse once this returns. Same contract as `write`.
   */
  writeParts?(parts: readonly Queued[], length: number): boolean;
  /**
   * Ends the response. Called at most once, and not at all when the adapter reported `closed()`
   * first. For `slow` and `stalled` the peer is not reading, so a graceful end would never be
   * read either: abort the connection. Otherwise end it after what was written.
   */
  close(reason: DisconnectReason): void;
}

/** The hub's side of one connection, as an adapter sees it. */
export interface ConnectionControl {
  /** The transport can take bytes again. */
  drain(): void;
  /** The peer closed the connection (or the transport failed). */
  closed(error?: unknown): void;
}

/** Options of the Web Streams sink. */
export interface StreamSinkOptions {
  /** Bytes the stream buffers before it reports backpressure (default 64 KiB). */
  highWaterMark?: number;
}

/** A `ReadableStream` body for fetch runtimes, and the sink that feeds it. */
export interface StreamSink {
  readonly stream: ReadableStream<Uint8Array>;
  readonly sink: Sink;
  /** Connects the stream's pull and cancel to the hub's connection. */
  bind(connection: ConnectionControl): void;
}

/**
 * Creates a pull-based `ReadableStream<Uint8Array>` sink for fetch runtimes (Deno, Bun, Workers).
 *
 * The stream itself buffers nothing ahead (`highWaterMark: 0`), so the runtime calls `pull` only
 * when it is waiting for bytes and everything enqueued before has been read. The sink counts the
 * bytes written since that last pull; past `highWaterMark` it reports backpressure, and the next
 * pull drains. Counting here instead of through a `size()` strategy spares the runtime a call
 * back into JS for every chunk.
 */
export function createStreamSink(options: StreamSinkOptions = {}): StreamSink {
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let connection: ConnectionControl | undefined;
  let done = false;
  let cancelled = false;
  /** Bytes written since the consumer last waited on an empty stream. */
  let unread = 0;

  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        unread = 0;
        connection?.drain();
      },
      cancel() {
        done = true;
        cancelled = true;
        connection?.closed();
      },
    },
    { highWaterMark: 0 },
  );

  const sink: Sink = {
    write(chunk) {
      if (done) return false;
      try {
        controller.enqueue(chunk);
      } catch (error) {
        done = true;
        connection?.closed(error);
        return false;
      }
      unread += chunk.byteLength;
      return unread < highWaterMark;
    },
    close(reason) {
      if (done) return;
      done = true;
      try {
        // A peer that does not read would never get to a graceful end: abort the body instead.
        if (reason === 'slow' || reason === 'stalled') {
          controller.error(new Error(`ssehub closed a ${reason} stream`));
        } else controller.close();
      } catch {
        // Already errored or cancelled by the consumer: nothing left to end.
      }
    },
  };

  return {
    stream,
    sink,
    bind(c) {
      connection = c;
      if (cancelled) c.closed();
    },
  };
}
