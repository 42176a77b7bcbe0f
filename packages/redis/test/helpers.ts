import { type Connection, Hub, type HubOptions, type Sink } from '@ssehub/core';
import { RedisBackplane, type RedisBackplaneOptions } from '../src/index.js';

/** An event as a client parsed it. */
export interface Received {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** Parses complete SSE events out of text; returns the events and the incomplete rest. */
export function parseEvents(text: string): { events: Received[]; rest: string } {
  const events: Received[] = [];
  const blocks = text.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields++;
      if (name === 'id') id = value;
      else if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
    }
    if (fields > 0 && data.length > 0) events.push({ id, event, data: data.join('\n') });
  }
  return { events, rest };
}

/** A connection over an in-memory sink, as a test client sees it. */
export class TestClient {
  readonly received: Received[] = [];
  connection!: Connection;
  ended = false;
  #rest = '';
  readonly #decoder = new TextDecoder();
  readonly sink: Sink = {
    write: (chunk) => {
      const { events, rest } = parseEvents(this.#rest + this.#decoder.decode(chunk));
      this.#rest = rest;
      this.received.push(...events);
      return true;
    },
    close: () => {
      this.ended = true;
    },
  };

  /** Events other than `connected`. */
  get events(): Received[] {
    return this.received.filter((e) => e.event !== 'connected');
  }

  get ids(): string[] {
    return this.events.map((e) => e.id ?? '');
  }

  /** The last id received (what a browser sends as Last-Event-ID). */
  get lastId(): string | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const id = this.received[i]!.id;
      if (id !== undefined) return id;
    }
    return undefined;
  }

  /** The client goes away. */
  leave(): void {
    this.connection.closed();
  }
}

/** A hub joined to the backplane, with its errors recorded. */
export interface TestNode {
  readonly hub: Hub;
  readonly backplane: RedisBackplane;
  readonly errors: { error: unknown; context: string }[];
  connect(
    group: string,
    id: string,
    options?: { lastEventId?: string; meta?: Record<string, unknown>; client?: TestClient },
  ): TestClient;
  close(): Promise<void>;
}

export const filters: HubOptions['filters'] = {
  role: (client, args) => client.meta.role === args,
};

export async function startNode(
  url: string,
  prefix: string,
  options: Omit<RedisBackplaneOptions, 'redis' | 'prefix'> = {},
): Promise<TestNode> {
  const errors: { error: unknown; context: string }[] = [];
  const backplane = new RedisBackplane({ redis: url, prefix, ...options });
  const hub = new Hub({
    ...backplane.hubOptions,
    filters,
    heartbeatMs: 60_000,
    onError: (error, context) => errors.push({ error, context }),
  });
  await backplane.ready();
  return {
    hub,
    backplane,
    errors,
    connect(group, id, { lastEventId, meta, client = new TestClient() } = {}) {
      client.connection = hub.connect(client.sink, { group, id, lastEventId, meta });
      return client;
    },
    close: () => hub.close(),
  };
}

/** Waits until `check` holds (polling), or fails with `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for: ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let prefixCounter = 0;

/** A key prefix no other test uses: every test gets a backplane of its own. */
export function uniquePrefix(name: string): string {
  return `ssehub-test:${process.pid}:${name}:${prefixCounter++}`;
}
