/** Helpers for this package's tests: a real server on port 0 and a raw SSE reader. */

import { get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Polls until `check` returns true (no fixed sleeps). */
export async function waitFor(check: () => boolean, timeoutMs = 5_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** An SSE response read with node:http, parsed with eventsource-parser. */
export interface RawStream {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly response: IncomingMessage;
  readonly events: EventSourceMessage[];
  readonly comments: string[];
  readonly retries: number[];
  /** Bytes received, in order. */
  text: string;
  ended: boolean;
  /** Resolves with the first event (from the start) that matches. */
  waitForEvent(
    match: (event: EventSourceMessage) => boolean,
    timeoutMs?: number,
  ): Promise<EventSourceMessage>;
  close(): void;
}

export function openStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers, agent: false }, (response) => {
      const stream: RawStream = {
        status: response.statusCode ?? 0,
        headers: response.headers,
        response,
        events: [],
        comments: [],
        retries: [],
        text: '',
        ended: false,
        async waitForEvent(match, timeoutMs = 5_000) {
          let found: EventSourceMessage | undefined;
          await waitFor(
            () => (found = stream.events.find(match)) !== undefined,
            timeoutMs,
            'an event',
          );
          return found!;
        },
        close() {
          request.destroy();
        },
      };
      const parser = createParser({
        onEvent: (event) => stream.events.push(event),
        onComment: (comment) => stream.comments.push(comment),
        onRetry: (retry) => stream.retries.push(retry),
      });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        stream.text += chunk;
        parser.feed(chunk);
      });
      const end = () => {
        stream.ended = true;
      };
      response.on('end', end);
      response.on('close', end);
      response.on('error', end);
      resolve(stream);
    });
    request.on('error', reject);
  });
}

/** Sends a request and reads the whole answer. */
export async function call(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; text: string; json: () => unknown }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}
