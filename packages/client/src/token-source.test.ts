import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ClientOptions, type ClientStatus, createClient } from './client.js';
import { FakeEventSource } from './fake-event-source.test-util.js';
import { tokenExpiry } from './url.js';

const URL = '/api/v1/sse/stream/room/alice';

/** An unsigned JWT-shaped token: the client only reads `exp`, it never verifies. */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

/** A JWT that expires `seconds` from the (fake) now. */
const expiringIn = (seconds: number, sub = 'alice') =>
  jwt({ sub, exp: Math.floor(Date.now() / 1000) + seconds });

function start(options: ClientOptions) {
  const client = createClient(URL, { EventSource: FakeEventSource, ...options });
  const statuses: ClientStatus[] = [];
  client.onStatus((status) => statuses.push(status));
  const seen: string[] = [];
  client.on('tick', (_data, meta) => seen.push(meta.id));
  return { client, statuses, seen };
}

const param = (source: FakeEventSource, name: string) =>
  new URLSearchParams(source.url.split('?')[1] ?? '').get(name);

beforeEach(() => {
  FakeEventSource.reset();
  vi.useFakeTimers({ now: 1_700_000_000_000 });
  vi.spyOn(Math, 'random').mockReturnValue(0); // no jitter: nominal delays
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('tokenExpiry', () => {
  it("reads a JWT's exp in ms, and nothing from other strings", () => {
    expect(tokenExpiry(jwt({ exp: 1_700_000_003 }))).toBe(1_700_000_003_000);
    expect(tokenExpiry(jwt({ sub: 'a' }))).toBeUndefined();
    expect(tokenExpiry(jwt({ exp: '1' }))).toBeUndefined();
    expect(tokenExpiry('opaque-token')).toBeUndefined();
    expect(tokenExpiry('a.%%%.c')).toBeUndefined();
    expect(tokenExpiry('a.bm90IGpzb24.c')).toBeUndefined();
  });
});

describe('getToken', () => {
  it('puts the token in the token query parameter, replacing one in the URL', async () => {
    const sync = createClient(`${URL}?token=old&x=1`, {
      EventSource: FakeEventSource,
      getToken: () => 'fresh',
    });
    // A synchronous token source opens at once.
    expect(FakeEventSource.last.url).toBe(`${URL}?token=fresh&x=1`);
    sync.close();
    const async = createClient(URL, { EventSource: FakeEventSource, getToken: async () => 't 2' });
    expect(FakeEventSource.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeEventSource.last.url).toBe(`${URL}?token=t+2`);
    expect(async.status).toBe('connecting');
  });

  it('when the server ends the stream at exp, refreshes at once and resumes from the last id', async () => {
    const getToken = vi.fn(() => expiringIn(3));
    const { client, statuses, seen } = start({ getToken, refreshBeforeExpiry: false });
    const first = FakeEventSource.last;
    first.open();
    first.emit('tick', '1', 'e1');
    first.emit('tick', '2', 'e2');
    await vi.advanceTimersByTimeAsync(3000);
    // The server ends the stream; the browser would retry with the stale token.
    first.fail(FakeEventSource.CONNECTING);
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    expect(first.listenerCounts.get('tick')).toBe(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(getToken).toHaveBeenCalledTimes(2);
    const second = FakeEventSource.last;
    expect(second).not.toBe(first);
    expect(param(second, 'lastEventId')).toBe('e2');
    expect(tokenExpiry(param(second, 'token')!)).toBe(Date.now() + 3000);
    // A late event of the old source is not dispatched: nothing twice.
    first.emit('tick', '2', 'e2');
    second.open();
    second.emit('tick', '3', 'e3');
    expect(seen).toEqual(['e1', 'e2', 'e3']);
    expect(statuses).toEqual(['open', 'reconnecting', 'open']);
    expect(client.status).toBe('open');
  });

  it('on a refusal (401: the EventSource gives up), fetches a fresh token and reconnects', async () => {
    const tokens = ['opaque-1', 'opaque-2'];
    const { statuses } = start({
      getToken: () => tokens.shift()!,
      reconnect: { initialDelay: 500 },
    });
    const first = FakeEventSource.last;
    first.open();
    first.emit('tick', '1', 'e1');
    first.fail(FakeEventSource.CLOSED);
    // Not known to be expired (opaque token): the backoff of the attempt.
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeEventSource.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeEventSource.last.url).toBe(`${URL}?lastEventId=e1&token=opaque-2`);
    FakeEventSource.last.open();
    expect(statuses).toEqual(['open', 'reconnecting', 'open']);
  });

  it('reports a getToken that throws or rejects, and retries it with backoff', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const getToken = () => {
      calls++;
      if (calls === 1) throw new Error('offline');
      if (calls === 2) return Promise.reject(new Error('500'));
      if (calls === 3) return '';
      return 'ok';
    };
    const { client, statuses } = start({
      getToken,
      onError: (error) => errors.push(error),
      reconnect: { initialDelay: 100, factor: 2 },
    });
    expect(FakeEventSource.instances).toHaveLength(0);
    expect(client.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(3);
    await vi.advanceTimersByTimeAsync(400);
    expect(calls).toBe(4);
    expect(errors.map((e) => (e as Error).message)).toEqual([
      'offline',
      '500',
      '@ssehub/client: getToken must give a non-empty string.',
    ]);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.last.url).toBe(`${URL}?token=ok`);
    FakeEventSource.last.open();
    // 'reconnecting' came during construction (the first call threw), before onStatus.
    expect(statuses).toEqual(['open']);
  });

  it('gives up (closed) after maxAttempts failures of getToken', async () => {
    const { client } = start({
      getToken: () => Promise.reject(new Error('no')),
      onError: () => {},
      reconnect: { initialDelay: 10, maxAttempts: 2 },
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.status).toBe('closed');
    expect(FakeEventSource.instances).toHaveLength(0);
  });

  it('refreshes ahead of exp: new token, old source closed, then resumed; status stays open', async () => {
    const getToken = vi.fn(() => expiringIn(4));
    const { statuses, seen } = start({ getToken });
    const first = FakeEventSource.last;
    first.open();
    first.emit('tick', '1', 'e1');
    await vi.advanceTimersByTimeAsync(2999);
    expect(getToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    const second = FakeEventSource.last;
    expect(param(second, 'lastEventId')).toBe('e1');
    second.open();
    second.emit('tick', '2', 'e2');
    expect(seen).toEqual(['e1', 'e2']);
    expect(statuses).toEqual(['open']);
    // ...and again three quarters into the new token's life.
    await vi.advanceTimersByTimeAsync(3000);
    expect(getToken).toHaveBeenCalledTimes(3);
  });

  it('a failed refresh ahead of exp keeps the stream and is reported', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const getToken = () => (++calls === 1 ? expiringIn(4) : Promise.reject(new Error('down')));
    const { client } = start({ getToken, onError: (e) => errors.push(e) });
    FakeEventSource.last.open();
    await vi.advanceTimersByTimeAsync(3000);
    expect(errors).toHaveLength(1);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(client.status).toBe('open');
  });

  it('an EventSource that rejects the URL after an async getToken: closed and reported', async () => {
    const reported: unknown[] = [];
    class Refusing extends FakeEventSource {
      constructor(url: string) {
        super(url);
        throw new SyntaxError('bad URL');
      }
    }
    const client = createClient(URL, {
      EventSource: Refusing,
      getToken: async () => 'tk',
      onListenerError: (error) => reported.push(error),
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(client.status).toBe('closed');
    expect(reported).toHaveLength(1);
  });

  it('close() while getToken is pending opens nothing', async () => {
    let resolve!: (token: string) => void;
    const { client } = start({ getToken: () => new Promise((r) => (resolve = r)) });
    client.close();
    resolve('late');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeEventSource.instances).toHaveLength(0);
    expect(client.status).toBe('closed');
  });

  it('with reconnect off, leaves retries to the browser and closes when it gives up', async () => {
    const getToken = vi.fn(() => expiringIn(4));
    const { client } = start({ getToken, reconnect: false });
    FakeEventSource.last.open();
    // No refresh ahead of exp either.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(FakeEventSource.instances).toHaveLength(1);
    FakeEventSource.last.fail(FakeEventSource.CONNECTING);
    expect(client.status).toBe('reconnecting');
    FakeEventSource.last.fail(FakeEventSource.CLOSED);
    expect(client.status).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(getToken).toHaveBeenCalledTimes(1);
  });
});
