/**
 * The node's two ioredis connections, kept apart from what runs over them: one for commands
 * (append, read, report) and one that only subscribes. Commands fail at once while Redis is down
 * and never wait longer than `commandTimeoutMs`.
 */

import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

/** Thrown (as a rejection) by commands while Redis is not connected or does not answer. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/** Events of the connections that the broker and the facade follow. */
export interface ConnectionEvents {
  error(error: unknown, context: string): void;
  /** The command connection is ready (again); `first` on its first time. */
  commandReady(first: boolean): void;
  commandClosed(): void;
  subscriberReady(): void;
  subscriberClosed(): void;
  message(channel: string, raw: string): void;
}

/** The command and subscriber connections of one node. */
export class RedisConnections {
  readonly command: Redis;
  readonly subscriber: Redis;
  readonly #ownsCommand: boolean;
  readonly #commandTimeoutMs: number;
  // biome-ignore lint/suspicious/noExplicitAny: event listeners of several signatures
  readonly #listeners: [Redis, string, (...args: any[]) => void][] = [];
  #commandWasReady: boolean;

  /**
   * `redis`: a `redis://` URL, or the app's own client (its commands go through it, a
   * `duplicate()` subscribes, and `close()` leaves it open).
   */
  constructor(
    redis: Redis | string | undefined,
    commandTimeoutMs: number,
    events: ConnectionEvents,
  ) {
    this.#commandTimeoutMs = commandTimeoutMs;
    const subscriberOptions: Partial<RedisOptions> = {
      // Resubscribed by hand on 'ready', so the node knows when to read back what it missed.
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      retryStrategy: retry,
    };
    if (redis !== undefined && typeof redis !== 'string') {
      this.command = redis;
      this.#ownsCommand = false;
      this.subscriber = redis.duplicate(subscriberOptions);
    } else {
      const url = redis ?? 'redis://127.0.0.1:6379';
      this.command = new Redis(url, {
        // While Redis is down a send must fail at once (and be refused), not queue.
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        commandTimeout: commandTimeoutMs,
        retryStrategy: retry,
      });
      this.#ownsCommand = true;
      this.subscriber = new Redis(url, subscriberOptions);
    }
    this.#commandWasReady = this.command.status === 'ready';
    this.#on(this.command, 'error', (error: unknown) => events.error(error, 'redis.command'));
    this.#on(this.command, 'ready', () => {
      events.commandReady(!this.#commandWasReady);
      this.#commandWasReady = true;
    });
    this.#on(this.command, 'close', () => events.commandClosed());
    this.#on(this.subscriber, 'error', (error: unknown) => events.error(error, 'redis.subscriber'));
    this.#on(this.subscriber, 'close', () => events.subscriberClosed());
    this.#on(this.subscriber, 'ready', () => events.subscriberReady());
    this.#on(this.subscriber, 'message', (channel: string, raw: string) =>
      events.message(channel, raw),
    );
  }

  /** The command connection can take commands now. */
  get commandReady(): boolean {
    return this.command.status === 'ready';
  }

  /** Resolves once the command connection is ready. */
  async ready(): Promise<void> {
    if (this.command.status !== 'ready') {
      await new Promise<void>((resolve) => this.command.once('ready', () => resolve()));
    }
  }

  /** A command with a deadline: with the app's own client's offline queue, nothing waits forever. */
  call<T>(run: (command: Redis) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new RedisUnavailableError('Redis did not answer in time.')),
        this.#commandTimeoutMs,
      );
      run(this.command).then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** Runs a Lua script by its SHA, loading it on NOSCRIPT. */
  async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    const sha = scriptSha(source);
    try {
      return await this.call((c) => c.evalsha(sha, keys.length, ...keys, ...args));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.call((c) => c.eval(source, keys.length, ...keys, ...args));
    }
  }

  /** Stops listening, disconnects the subscriber and quits the command connection it opened. */
  async close(): Promise<void> {
    for (const [client, event, listener] of this.#listeners) client.off(event, listener);
    this.#listeners.length = 0;
    // Keep swallowing errors of connections that are still closing.
    this.subscriber.on('error', () => {});
    this.subscriber.disconnect();
    if (this.#ownsCommand) {
      this.command.on('error', () => {});
      await this.command.quit().catch(() => this.command.disconnect());
    }
  }

  // biome-ignore lint/suspicious/noExplicitAny: event listeners of several signatures
  #on(client: Redis, event: string, listener: (...args: any[]) => void): void {
    client.on(event, listener);
    this.#listeners.push([client, event, listener]);
  }
}

const shas = new Map<string, string>();

function scriptSha(source: string): string {
  let sha = shas.get(source);
  if (sha === undefined) {
    sha = createHash('sha1').update(source).digest('hex');
    shas.set(source, sha);
  }
  return sha;
}

/** Reconnect quickly at first, then every 2 s at most. */
function retry(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2_000);
}
