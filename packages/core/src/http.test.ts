import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BodyTooLargeError,
  createHandler,
  type HandlerOptions,
  type HubRequest,
  type HubResponse,
  notFoundResponse,
  type PlainResponse,
  serverErrorResponse,
  utf8Header,
} from './http.js';
import { Hub } from './hub.js';
import { signJwt } from './jwt.js';
import { MemorySink, tick } from './testing.test-util.js';

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

/** The publisher key `setup` configures unless told otherwise, and the header that carries it. */
const KEY = 'pk';
const ADMIN = { authorization: `Bearer ${KEY}` };

function setup(options: HandlerOptions = { publisherKey: KEY }) {
  const hub = new Hub();
  hubs.push(hub);
  const handle = createHandler(hub, options);
  const request = (
    method: string,
    url: string,
    init: {
      headers?: Record<string, string>;
      body?: string;
      httpVersion?: string;
      ip?: string;
    } = {},
  ): Promise<HubResponse> => {
    const headers = new Map(
      Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    const req: HubRequest = {
      method,
      url,
      headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
      httpVersion: init.httpVersion ?? '1.1',
      remoteAddress: 'ip' in init ? init.ip : '127.0.0.1',
      readBody: async (limit) => {
        const body = init.body ?? '';
        if (new TextEncoder().encode(body).length > limit) throw new BodyTooLargeError('too large');
        return body;
      },
    };
    return handle(req);
  };
  const json = async (method: string, url: string, init?: Parameters<typeof request>[2]) => {
    const res = (await request(method, url, init)) as PlainResponse;
    expect(res.kind).toBe('response');
    return {
      status: res.status,
      headers: res.headers,
      body: res.headers['content-type']?.startsWith('application/json')
        ? JSON.parse(res.body)
        : res.body,
    };
  };
  const publish = (body: unknown, headers: Record<string, string> = {}) =>
    json('POST', '/api/v1/sse/publish', {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...ADMIN, ...headers },
    });
  const stream = async (url: string, init?: Parameters<typeof request>[2]) => {
    const res = await request('GET', url, init);
    if (res.kind !== 'stream') throw new Error(`expected a stream, got ${JSON.stringify(res)}`);
    const sink = new MemorySink();
    const connection = res.connect(sink);
    return { res, sink, connection };
  };
  return { hub, request, json, publish, stream };
}

describe('stream route', () => {
  it('opens a stream from the path or the query, with the SSE headers', async () => {
    const t = setup();
    const a = await t.stream('/api/v1/sse/stream/users/alice');
    const b = await t.stream('/api/v1/sse/stream?group=users&id=bob');
    expect(a.res.headers).toMatchObject({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    expect(t.hub.info()).toMatchObject({ clientCount: 2, groups: { users: 2 } });
    expect(b.connection.info.id).toBe('bob');
  });

  it('sends Connection: keep-alive only on HTTP/1.x', async () => {
    const t = setup();
    const h2 = await t.request('GET', '/api/v1/sse/stream/g/a', { httpVersion: '2.0' });
    expect(h2.kind === 'stream' && h2.headers.connection).toBeUndefined();
    const unknown = await t.request('GET', '/api/v1/sse/stream/g/a', { httpVersion: '' });
    expect(unknown.kind === 'stream' && unknown.headers.connection).toBeUndefined();
  });

  it.each([
    ['/api/v1/sse/stream?group=g', 400],
    ['/api/v1/sse/stream/g/has space', 400],
    [`/api/v1/sse/stream/g/${'x'.repeat(129)}`, 400],
    ['/api/v1/sse/stream/g/%E0%A4%A', 400],
    [`/api/v1/sse/stream/g/a?lastEventId=${'x'.repeat(300)}`, 400],
    ['/api/v1/sse/stream/g/a/extra', 404],
    ['/api/v1/sse/nothing', 404],
  ])('answers %s with %i and a JSON error', async (url, status) => {
    const t = setup();
    const res = await t.json('GET', url);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ code: status, message: expect.any(String) });
  });

  it('passes requests outside its base on', async () => {
    const t = setup();
    expect((await t.request('GET', '/elsewhere')).kind).toBe('pass');
    expect((await t.request('GET', '/api/v1/sse-other')).kind).toBe('pass');
  });

  it('takes Last-Event-ID from the header or the lastEventId query parameter', async () => {
    const t = setup();
    const first = await t.stream('/api/v1/sse/stream/g/a');
    await t.hub.broadcast({ data: 'one' });
    await t.hub.broadcast({ data: 'two' });
    await tick();
    const id = first.sink.appEvents[0]!.id!;
    const viaHeader = await t.stream('/api/v1/sse/stream/g/a', {
      headers: { 'last-event-id': id },
    });
    const viaQuery = await t.stream(`/api/v1/sse/stream/g/a?lastEventId=${encodeURIComponent(id)}`);
    await tick();
    expect(viaHeader.sink.appEvents.map((e) => e.data)).toEqual(['two']);
    expect(viaQuery.sink.appEvents.map((e) => e.data)).toEqual(['two']);
  });
});

describe('event ids', () => {
  it('every id the hub accepts comes back through Last-Event-ID: 256 characters, inner spaces', async () => {
    const t = setup();
    const first = await t.stream('/api/v1/sse/stream/g/a');
    const long = `${'x'.repeat(128)} ${'y'.repeat(127)}`;
    await t.hub.broadcast({ data: 'one', id: long });
    await t.hub.broadcast({ data: 'two', id: 'next one' });
    await tick();
    expect(first.sink.appEvents.map((e) => e.id)).toEqual([long, 'next one']);
    const again = await t.stream('/api/v1/sse/stream/g/a', { headers: { 'last-event-id': long } });
    await tick();
    expect(again.sink.appEvents.map((e) => e.data)).toEqual(['two']);
    // One more character and the route would refuse the reconnect: the hub refuses the id instead.
    await expect(t.hub.broadcast({ data: 1, id: `${long}z` })).rejects.toThrow(/at most 256/);
    const refused = await t.json('GET', '/api/v1/sse/stream/g/a', {
      headers: { 'last-event-id': `${long}z` },
    });
    expect(refused.status).toBe(400);
  });
});

describe('utf8Header', () => {
  it('re-reads latin1-decoded UTF-8 bytes, and leaves ASCII and non-UTF-8 values alone', () => {
    const latin1 = (text: string) => String.fromCharCode(...new TextEncoder().encode(text));
    expect(utf8Header(latin1('évé-😀-1'))).toBe('évé-😀-1');
    expect(utf8Header('plain-1')).toBe('plain-1');
    expect(utf8Header('\xff\xfe')).toBe('\xff\xfe');
    expect(utf8Header('already ünïcode 😀')).toBe('already ünïcode 😀');
  });

  it('a non-ASCII event id survives the Last-Event-ID header', async () => {
    const t = setup();
    const first = await t.stream('/api/v1/sse/stream/g/a');
    await t.hub.broadcast({ data: 'one', id: 'évé-1' });
    await t.hub.broadcast({ data: 'two', id: 'évé-2' });
    const header = String.fromCharCode(...new TextEncoder().encode('évé-1'));
    const again = await t.stream('/api/v1/sse/stream/g/a', {
      headers: { 'last-event-id': header },
    });
    await tick();
    expect(first.sink.appEvents).toHaveLength(2);
    expect(again.sink.appEvents.map((e) => e.data)).toEqual(['two']);
  });
});

describe('auth', () => {
  const secret = 'secret';
  it('with jwtSecret: a token for this id and group opens; everything else is 401 or 403', async () => {
    const t = setup({ jwtSecret: secret });
    const now = Math.floor(Date.now() / 1000);
    const alice = await signJwt({ sub: 'alice', groups: ['users'] }, secret, { expiresIn: 60 });
    await t.stream(`/api/v1/sse/stream/users/alice?token=${alice}`);
    await t.stream('/api/v1/sse/stream/users/alice', {
      headers: { authorization: `Bearer ${alice}` },
    });
    await t.stream('/api/v1/sse/stream/users/alice', {
      headers: { cookie: `a=b; ssehub_token=${alice}` },
    });
    const cases: [string, number][] = [
      ['', 401],
      // The signature's first character carries six bits of it (the last one may carry only 4).
      [alice.replace(/\.(.)([^.]*)$/, (_, c, rest) => `.${c === 'A' ? 'B' : 'A'}${rest}`), 401],
      [await signJwt({ sub: 'alice', exp: now - 10 }, secret), 401],
      [await signJwt({ sub: 'alice', groups: '*', nbf: now + 100, exp: now + 200 }, secret), 401],
      [await signJwt({ sub: 'alice', groups: '*' }, 'wrong', { expiresIn: 60 }), 401],
      [await signJwt({ sub: 'mallory', groups: '*' }, secret, { expiresIn: 60 }), 403],
      [await signJwt({ sub: 'alice', groups: ['admins'] }, secret, { expiresIn: 60 }), 403],
    ];
    for (const [token, status] of cases) {
      const res = await t.json(
        'GET',
        `/api/v1/sse/stream/users/alice${token ? `?token=${token}` : ''}`,
      );
      expect(res.status, token).toBe(status);
    }
    expect(t.hub.connectionCount).toBe(3);
  });

  it('with jwtSecret: a token without "groups" joins no group, unless jwtDefaultGroups grants some', async () => {
    const noGroups = await signJwt({ sub: 'alice' }, secret, { expiresIn: 60 });
    const strict = setup({ jwtSecret: secret });
    for (const group of ['users', 'admins', 'anything']) {
      const res = await strict.json('GET', `/api/v1/sse/stream/${group}/alice?token=${noGroups}`);
      expect(res.status).toBe(403);
      expect(res.body.message).toMatch(/no "groups" claim/);
    }
    const any = await signJwt({ sub: 'alice', groups: '*' }, secret, { expiresIn: 60 });
    await strict.stream(`/api/v1/sse/stream/admins/alice?token=${any}`);

    const lenient = setup({ jwtSecret: secret, jwtDefaultGroups: ['news'] });
    await lenient.stream(`/api/v1/sse/stream/news/alice?token=${noGroups}`);
    expect(
      (await lenient.json('GET', `/api/v1/sse/stream/users/alice?token=${noGroups}`)).status,
    ).toBe(403);
    // An explicit claim is not widened by the defaults.
    const usersOnly = await signJwt({ sub: 'alice', groups: ['users'] }, secret, { expiresIn: 60 });
    expect(
      (await lenient.json('GET', `/api/v1/sse/stream/news/alice?token=${usersOnly}`)).status,
    ).toBe(403);
  });

  it('with jwtSecret: a token without "exp" is 401 unless jwtRequireExp is false', async () => {
    const forever = await signJwt({ sub: 'alice', groups: ['users'] }, secret);
    const strict = setup({ jwtSecret: secret });
    const res = await strict.json('GET', `/api/v1/sse/stream/users/alice?token=${forever}`);
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/no expiry \(exp\)/);
    const relaxed = setup({ jwtSecret: secret, jwtRequireExp: false });
    await relaxed.stream(`/api/v1/sse/stream/users/alice?token=${forever}`);
  });

  it('an authorize hook decides and attaches meta', async () => {
    const t = setup({
      authorize: ({ id, token }) =>
        token === 'let-me-in'
          ? { allow: true, meta: { role: id } }
          : { allow: false, status: 401, message: 'no' },
    });
    const ok = await t.stream('/api/v1/sse/stream/g/admin?token=let-me-in');
    expect(ok.connection.info.meta).toEqual({ role: 'admin' });
    expect(await t.json('GET', '/api/v1/sse/stream/g/admin?token=nope')).toMatchObject({
      status: 401,
      body: { message: 'no' },
    });
  });

  it('a JWT with exp ends its stream at exp (reason expired), counted in /metrics', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    // jwtRequireExp: false lets the token without exp in, to show it is not ended.
    const t = setup({ jwtSecret: secret, jwtRequireExp: false, publisherKey: KEY });
    const token = await signJwt({ sub: 'alice', groups: ['users'] }, secret, { expiresIn: 5 });
    const { sink, connection } = await t.stream(`/api/v1/sse/stream/users/alice?token=${token}`);
    const plain = await t.stream(
      `/api/v1/sse/stream/users/alice?token=${await signJwt({ sub: 'alice', groups: ['users'] }, secret)}`,
    );
    await vi.advanceTimersByTimeAsync(4900);
    expect(sink.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(sink.closeReason).toBe('expired');
    expect(connection.info.closed).toBe(true);
    expect(plain.sink.closed).toBe(false);
    const metrics = (await t.request('GET', '/api/v1/sse/metrics', {
      headers: ADMIN,
    })) as PlainResponse;
    expect(metrics.body).toMatch(/^ssehub_expired_disconnects_total 1$/m);
    vi.useRealTimers();
  });

  it("an authorize hook's expiresAt ends the stream then; one already past is 401", async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const t = setup({
      authorize: ({ token }) => ({ allow: true, expiresAt: Date.now() + Number(token) }),
    });
    const { sink } = await t.stream('/api/v1/sse/stream/g/a?token=3000');
    expect(await t.json('GET', '/api/v1/sse/stream/g/a?token=0')).toMatchObject({
      status: 401,
      body: { code: 401, message: 'The token has expired.' },
    });
    await vi.advanceTimersByTimeAsync(3000);
    expect(sink.closeReason).toBe('expired');
    expect(t.hub.info().counters.expiredDisconnects).toBe(1);
    vi.useRealTimers();
  });

  it("an authorize hook's expiresAt that is not a number is a 500, not a stream", async () => {
    const t = setup({
      authorize: () => ({ allow: true, expiresAt: 'soon' as unknown as number }),
    });
    expect((await t.json('GET', '/api/v1/sse/stream/g/a')).status).toBe(500);
    expect(t.hub.connectionCount).toBe(0);
  });

  const adminRoutes = [
    ['POST', '/api/v1/sse/publish', 'publish'],
    ['POST', '/api/v1/sse/disconnect/g/a', 'disconnect'],
    ['GET', '/api/v1/sse/info', 'info'],
    ['GET', '/api/v1/sse/metrics', 'metrics'],
    ['GET', '/api/v1/sse/presence/g', 'presence'],
  ] as const;

  it('the admin routes are closed (403) without publisherKey, authorizePublish or the unsafe opt-in; streams still open', async () => {
    const t = setup({});
    for (const [method, url] of adminRoutes) {
      for (const headers of [{}, { authorization: 'Bearer anything' }] as Record<
        string,
        string
      >[]) {
        const res = await t.json(method, url, {
          headers: { 'content-type': 'application/json', ...headers },
          body: '{"data":1}',
        });
        expect(res.status, url).toBe(403);
        expect(res.body).toMatchObject({ code: 403, error: 'forbidden' });
        expect(res.body.message).toMatch(
          /SSE_PUBLISH_KEY.*authorizePublish.*unsafeOpenAdminRoutes/,
        );
      }
    }
    const open = await t.stream('/api/v1/sse/stream/g/a');
    expect(open.connection.info.id).toBe('a');
  });

  it('unsafeOpenAdminRoutes opens them and warns exactly once; with a key it changes nothing', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const t = setup({ unsafeOpenAdminRoutes: true });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/UNSAFE.*unsafeOpenAdminRoutes/);
      await t.stream('/api/v1/sse/stream/g/a');
      for (let i = 0; i < 3; i++) {
        expect(
          (
            await t.json('POST', '/api/v1/sse/publish', {
              headers: { 'content-type': 'application/json' },
              body: '{"data":1}',
            })
          ).status,
        ).toBe(200);
        expect((await t.json('GET', '/api/v1/sse/info')).status).toBe(200);
      }
      expect(warn).toHaveBeenCalledTimes(1);

      warn.mockClear();
      const keyed = setup({ unsafeOpenAdminRoutes: true, publisherKey: KEY });
      expect(warn).not.toHaveBeenCalled();
      expect((await keyed.json('GET', '/api/v1/sse/info')).status).toBe(401);
    } finally {
      warn.mockRestore();
    }
  });

  it('authorizePublish decides on the admin routes, told the route and the bearer token', async () => {
    const seen: [string, string | undefined][] = [];
    const t = setup({
      authorizePublish: ({ route, token }) => {
        seen.push([route, token]);
        if (token === 'ops') return true;
        if (token === 'reader') return route === 'info' || route === 'metrics';
        return { allow: false, status: 401, message: 'Log in first.' };
      },
    });
    for (const [method, url, route] of adminRoutes) {
      const body = '{"data":1}';
      const headers = { 'content-type': 'application/json' };
      expect(await t.json(method, url, { headers, body })).toMatchObject({
        status: 401,
        body: { message: 'Log in first.' },
      });
      const asReader = await t.json(method, url, {
        headers: { ...headers, authorization: 'Bearer reader' },
        body,
      });
      expect(asReader.status, route).toBe(route === 'info' || route === 'metrics' ? 200 : 403);
      const asOps = await t.json(method, url, {
        headers: { ...headers, authorization: 'Bearer ops' },
        body,
      });
      expect(asOps.status, route).toBe(200);
    }
    expect(seen.slice(0, 3)).toEqual([
      ['publish', undefined],
      ['publish', 'reader'],
      ['publish', 'ops'],
    ]);
    expect(new Set(seen.map(([route]) => route))).toEqual(
      new Set(['publish', 'disconnect', 'info', 'metrics', 'presence']),
    );

    // With a publisherKey as well, the key is checked first and the hook after it.
    const both = setup({
      publisherKey: KEY,
      authorizePublish: ({ route }) => route !== 'disconnect',
    });
    expect((await both.json('GET', '/api/v1/sse/info')).status).toBe(401);
    expect((await both.json('GET', '/api/v1/sse/info', { headers: ADMIN })).status).toBe(200);
    expect((await both.json('POST', '/api/v1/sse/disconnect/g/a', { headers: ADMIN })).status).toBe(
      403,
    );
  });

  it('the publisher key guards publish, disconnect, info and metrics', async () => {
    const t = setup({ publisherKey: 'pk' });
    for (const [method, url] of adminRoutes) {
      expect((await t.json(method, url)).status).toBe(401);
      expect(
        (await t.json(method, url, { headers: { authorization: 'Bearer nope' } })).status,
      ).toBe(403);
    }
    expect((await t.publish({ data: 1 }, { authorization: 'Bearer pk' })).status).toBe(200);
    expect(
      (await t.json('GET', '/api/v1/sse/info', { headers: { authorization: 'Bearer pk' } })).status,
    ).toBe(200);
  });
});

describe('publish, disconnect, info, metrics', () => {
  it('publish: unicast with group and id, group with group only, broadcast with neither, list with ids', async () => {
    const t = setup();
    const a = await t.stream('/api/v1/sse/stream/g1/a');
    const b = await t.stream('/api/v1/sse/stream/g1/b');
    const c = await t.stream('/api/v1/sse/stream/g2/c');
    expect(
      (await t.publish({ group: 'g1', id: 'a', event: 'notification', data: { n: 1 } })).body,
    ).toEqual({ code: 200, data: { delivered: 1 } });
    expect((await t.publish({ group: 'g1', data: 'group' })).body.data.delivered).toBe(2);
    expect((await t.publish({ data: 'all', eventId: 'e-1', retry: 100 })).body.data.delivered).toBe(
      3,
    );
    expect(
      (await t.publish({ group: 'g1', ids: ['a', 'b', 'x'], data: 'list' })).body.data.delivered,
    ).toBe(2);
    await tick();
    expect(a.sink.appEvents.map((e) => [e.event, e.data])).toEqual([
      ['notification', '{"n":1}'],
      [undefined, 'group'],
      [undefined, 'all'],
      [undefined, 'list'],
    ]);
    expect(b.sink.appEvents.map((e) => e.data)).toEqual(['group', 'all', 'list']);
    expect(c.sink.appEvents.map((e) => [e.id, e.data])).toEqual([['e-1', 'all']]);
    expect(c.sink.retries[0]).toBeGreaterThanOrEqual(3000);
    expect(c.sink.retries.slice(1)).toEqual([100]);
  });

  it.each([
    ['not json', '{', 400],
    ['an array', '[1]', 400],
    ['no data', '{"group":"g"}', 400],
    ['a numeric group', '{"group":1,"data":1}', 400],
    ['an id without group', '{"id":"a","data":1}', 400],
    ['an event name with a newline', '{"event":"a\\nb","data":1}', 400],
    ['an event id with a CR', '{"eventId":"a\\rb","data":1}', 400],
    ['an event id with a trailing space', '{"eventId":"a ","data":1}', 400],
    ['an event id of 257 characters', `{"eventId":"${'x'.repeat(257)}","data":1}`, 400],
    ['a negative retry', '{"retry":-1,"data":1}', 400],
    ['a bad group name', '{"group":"a b","data":1}', 400],
    ['ids that are not strings', '{"group":"g","ids":[1],"data":1}', 400],
  ])('publish rejects %s with 400', async (_what, body, status) => {
    const t = setup();
    const c = await t.stream('/api/v1/sse/stream/g/a');
    const res = await t.publish(body);
    expect(res.status).toBe(status);
    expect(res.body.message).toEqual(expect.any(String));
    await tick();
    expect(c.sink.appEvents).toHaveLength(0);
  });

  it('publish answers 413 past the body limit', async () => {
    const t = setup({ maxBodyBytes: 100, publisherKey: KEY });
    expect((await t.publish({ data: 'x'.repeat(200) })).status).toBe(413);
  });

  it.each([
    ['text/plain', 415],
    ['text/plain;charset=UTF-8', 415],
    ['application/x-www-form-urlencoded', 415],
    ['multipart/form-data; boundary=x', 415],
    ['application/jsonp', 415],
    ['text/json', 415],
    [undefined, 415],
    ['application/json', 200],
    ['Application/JSON; charset=utf-8', 200],
    ['application/merge-patch+json', 200],
    ['application/vnd.api+json; charset=utf-8', 200],
  ])('publish with Content-Type %s answers %i', async (type, status) => {
    const t = setup();
    const c = await t.stream('/api/v1/sse/stream/g/a');
    const res = await t.json('POST', '/api/v1/sse/publish', {
      body: '{"data":"x"}',
      headers: type === undefined ? ADMIN : { ...ADMIN, 'content-type': type },
    });
    expect(res.status).toBe(status);
    if (status === 415)
      expect(res.body).toMatchObject({ code: 415, error: 'unsupported_media_type' });
    await tick();
    expect(c.sink.appEvents).toHaveLength(status === 200 ? 1 : 0);
  });

  it('wrong methods get 405 with Allow', async () => {
    const t = setup();
    const res = await t.json('DELETE', '/api/v1/sse/stream/g/a');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, OPTIONS');
    expect((await t.json('GET', '/api/v1/sse/publish')).status).toBe(405);
    expect((await t.json('GET', '/api/v1/sse/disconnect/g/a')).status).toBe(405);
  });

  it("disconnect closes the client's connections", async () => {
    const t = setup();
    const a = await t.stream('/api/v1/sse/stream/g/a');
    expect((await t.json('POST', '/api/v1/sse/disconnect/g/a', { headers: ADMIN })).body).toEqual({
      code: 200,
      data: { disconnected: 1 },
    });
    expect(a.sink.closed).toBe(true);
  });

  it('info and metrics report the hub', async () => {
    const t = setup();
    await t.stream('/api/v1/sse/stream/g/a');
    await t.publish({ data: 1 });
    const info = await t.json('GET', '/api/v1/sse/info', { headers: ADMIN });
    expect(info.body).toMatchObject({
      code: 200,
      data: { clientCount: 1, connectionCount: 1, groups: { g: 1 }, counters: { eventsSent: 1 } },
    });
    const metrics = (await t.request('GET', '/api/v1/sse/metrics', {
      headers: ADMIN,
    })) as PlainResponse;
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
    expect(metrics.body).toMatch(/^ssehub_connections 1$/m);
    expect(metrics.body).toMatch(/^ssehub_events_sent_total 1$/m);
    // Per-group series are opt-in (HubOptions.metrics.groups): none here.
    expect(metrics.body).not.toContain('ssehub_group_clients');
    expect(metrics.body).toMatch(/^ssehub_connections 1$/m);
  });
});

describe('CORS and limits', () => {
  it('answers preflights for allowed origins and refuses unknown ones', async () => {
    const t = setup({ cors: { origin: ['https://app.example'], credentials: true } });
    const ok = await t.request('OPTIONS', '/api/v1/sse/stream/g/a', {
      headers: { origin: 'https://app.example', 'access-control-request-headers': 'last-event-id' },
    });
    expect(ok).toMatchObject({
      status: 204,
      headers: {
        'access-control-allow-origin': 'https://app.example',
        'access-control-allow-credentials': 'true',
        'access-control-allow-headers': expect.stringContaining('Last-Event-ID'),
      },
    });
    const stream = await t.stream('/api/v1/sse/stream/g/a', {
      headers: { origin: 'https://app.example' },
    });
    expect(stream.res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(
      (
        await t.json('OPTIONS', '/api/v1/sse/stream/g/a', {
          headers: { origin: 'https://evil.example' },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await t.json('GET', '/api/v1/sse/stream/g/a', {
          headers: { origin: 'https://evil.example' },
        })
      ).status,
    ).toBe(403);
    // The page's own origin is always allowed.
    await t.stream('/api/v1/sse/stream/g/a', {
      headers: { origin: 'http://localhost:3000', host: 'localhost:3000' },
    });
  });

  it('puts the CORS headers on errors too, so the page can read them', async () => {
    const t = setup({ cors: { origin: ['https://app.example'] } });
    const origin = { origin: 'https://app.example' };
    for (const [method, url] of [
      ['GET', '/api/v1/sse/stream/bad%20group/u'],
      ['POST', '/api/v1/sse/disconnect/bad%20group/u'],
      ['GET', '/api/v1/sse/stream/g/%E0%A4%A'],
      ['GET', '/api/v1/sse/nothing'],
      ['PUT', '/api/v1/sse/info'],
    ] as const) {
      const res = await t.json(method, url, { headers: origin });
      expect(res.status, url).toBeGreaterThanOrEqual(400);
      expect(res.headers['access-control-allow-origin'], url).toBe('https://app.example');
    }
    const bad = await t.publish('{', origin);
    expect(bad.headers['access-control-allow-origin']).toBe('https://app.example');
  });

  it('limits connections in total (503), per client and per address (429)', async () => {
    const perClient = setup({ limits: { maxConnectionsPerClient: 2 } });
    await perClient.stream('/api/v1/sse/stream/g/a');
    await perClient.stream('/api/v1/sse/stream/g/a');
    expect((await perClient.json('GET', '/api/v1/sse/stream/g/a')).status).toBe(429);

    const perIp = setup({ limits: { maxConnectionsPerIp: 2 } });
    const first = await perIp.stream('/api/v1/sse/stream/g/a', { ip: '10.0.0.1' });
    await perIp.stream('/api/v1/sse/stream/g/b', { ip: '10.0.0.1' });
    expect((await perIp.json('GET', '/api/v1/sse/stream/g/c', { ip: '10.0.0.1' })).status).toBe(
      429,
    );
    await perIp.stream('/api/v1/sse/stream/g/c', { ip: '10.0.0.2' });
    first.connection.closed();
    await perIp.stream('/api/v1/sse/stream/g/c', { ip: '10.0.0.1' });
    // No address with a per-IP limit: refused as a configuration error, never let through.
    expect((await perIp.json('GET', '/api/v1/sse/stream/g/d', { ip: undefined })).status).toBe(500);

    const total = setup({ limits: { maxConnections: 1 } });
    await total.stream('/api/v1/sse/stream/g/a');
    const full = await total.json('GET', '/api/v1/sse/stream/g/b');
    expect(full.status).toBe(503);
    expect(full.headers['retry-after']).toBe('5');
  });
});

describe('rules every adapter gets from the handler', () => {
  it('answers 503 with Retry-After to a stream request on a closed hub, authorized or not', async () => {
    let authorized = 0;
    const t = setup({
      authorize: async () => {
        authorized++;
        // The hub closes while authorize runs: the answer is still 503, not a stream.
        await t.hub.close();
        return true;
      },
    });
    const during = await t.json('GET', '/api/v1/sse/stream/g/a');
    expect(authorized).toBe(1);
    expect(during.status).toBe(503);
    expect(during.headers['retry-after']).toBe('5');
    expect(during.body).toMatchObject({ code: 503, error: 'service_unavailable' });
    const after = await t.json('GET', '/api/v1/sse/stream?group=g&id=b');
    expect(after.status).toBe(503);
    expect(t.hub.connectionCount).toBe(0);
  });

  it('answers a JSON 500 when a hook throws, and never rejects', async () => {
    const t = setup({
      authorize: () => {
        throw new Error('the database is down');
      },
    });
    const res = await t.json('GET', '/api/v1/sse/stream/g/a');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      code: 500,
      error: 'internal_error',
      message: 'The request failed inside the server.',
    });
  });

  it('builds the 404 for other paths once: notFoundResponse', () => {
    expect(notFoundResponse({ method: 'get', url: '/elsewhere?x=1' })).toMatchObject({
      status: 404,
      body: JSON.stringify({ code: 404, error: 'not_found', message: 'No route GET /elsewhere.' }),
    });
    expect(serverErrorResponse().status).toBe(500);
  });
});

describe('request targets', () => {
  it('reads paths and queries as the URL parser does, with or without the fast path', async () => {
    const hub = new Hub();
    const handle = createHandler(hub);
    const target = async (url: string) => {
      const response = await handle({
        method: 'GET',
        url,
        headers: { get: () => undefined },
        httpVersion: '1.1',
        remoteAddress: '127.0.0.1',
        readBody: async () => '',
      });
      if (response.kind !== 'stream') return response.kind === 'pass' ? 'pass' : response.status;
      return `stream ${JSON.stringify(response.headers['content-type'])}`;
    };
    const stream = 'stream "text/event-stream; charset=utf-8"';
    expect(await target('/api/v1/sse/stream/g/a')).toBe(stream);
    expect(await target('/api/v1/sse/stream?group=g&id=a')).toBe(stream);
    expect(await target('/api/v1/sse/stream?group=g&id=a%2Db')).toBe(stream);
    // Dot segments, escapes and scheme-relative targets go through the URL parser, as before.
    expect(await target('/api/v1/x/../sse/stream/g/a')).toBe(stream);
    expect(await target('/api/v1/sse/./stream/g/%61')).toBe(stream);
    expect(await target('//host/api/v1/sse/stream/g/a')).toBe(stream);
    expect(await target('/api/v1/sse/stream/g/a#fragment')).toBe(stream);
    expect(await target('/elsewhere')).toBe('pass');
    expect(await target('http://[::1')).toBe(400);
    expect(await target('/api/v1/sse/stream/g/%E0%A4%A')).toBe(400);
    await hub.close();
  });
});
