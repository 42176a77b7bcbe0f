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
  /** Script calls of the current tick, sent together at its end (`scriptInTick`). */
  #tick: ScriptCall[] = [];

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

  /**
   * Runs a Lua script with the other calls of the same tick: they go to Redis as one pipeline
   * (one write, one round trip) and run there in call order, one after another. Each call
   * settles with its own reply.
   */
  scriptInTick(source: string, keys: string[], args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#tick.push({ source, keys, args, resolve, reject }) === 1)
        queueMicrotask(() => this.#runTick());
    });
  }

  #runTick(): void {
    const calls = this.#tick;
    this.#tick = [];
    if (calls.length === 1) {
      const call = calls[0]!;
      this.script(call.source, call.keys, call.args).then(call.resolve, call.reject);
      return;
    }
    this.#pipeline(calls, 'evalsha').then(
      (missing) => {
        // NOSCRIPT (Redis restarted or its scripts were flushed): none of those ran. Run them
        // again, in order, with the script's source.
        if (missing.length > 0)
          this.#pipeline(missing, 'eval').catch((error) => {
            for (const call of missing) call.reject(error);
          });
      },
      (error) => {
        for (const call of calls) call.reject(error);
      },
    );
  }

  /** Sends the calls as one pipeline and settles each; returns those that met NOSCRIPT. */
  async #pipeline(calls: ScriptCall[], how: 'evalsha' | 'eval'): Promise<ScriptCall[]> {
    const replies = await this.call((command) => {
      const pipeline = command.pipeline();
      for (const { source, keys, args } of calls) {
        const script = how === 'evalsha' ? scriptSha(source) : source;
        pipeline[how](script, keys.length, ...keys, ...args);
      }
      return pipeline.exec();
    });
    const missing: ScriptCall[] = [];
    calls.forEach((call, i) => {
      const [error, reply] = replies?.[i] ?? [new RedisUnavailableError('No reply.'), undefined];
      if (error === null) call.resolve(reply);
      else if (how === 'evalsha' && error.message.startsWith('NOSCRIPT')) missing.push(call);
      else call.reject(error);
    });
    return missing;
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

/** A script call waiting for the end of its tick. */
interface ScriptCall {
  readonly source: string;
  readonly keys: string[];
  readonly args: string[];
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
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
