/**
 * Auth, publisher key, CORS and connection limits of apps/node, started as users start it with
 * the `SSE_*` variables. Tokens come from core's `signJwt`; the forged ones are made by hand.
 */

import { signJwt } from '@ssehub/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  formatRequest,
  getJson,
  openSse,
  postJson,
  rawRequest,
  type SseClient,
} from './harness/http.js';
import { type ServerProcess, startApp } from './harness/processes.js';
import { report } from './harness/report.js';

const SECRET = 'reliability-secret-0123456789';
const KEY = 'publisher-key-abc';
const BASE = '/api/v1/sse';
const ORIGIN = 'https://app.example';

const enc = new TextEncoder();
const b64 = (value: unknown) =>
  Buffer.from(enc.encode(JSON.stringify(value))).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

describe('closed defaults (apps/node started with no SSE_* variable)', () => {
  const admin = [
    ['POST', `${BASE}/publish`, '{"data":"broadcast by anyone"}'],
    ['POST', `${BASE}/disconnect/team/alice`, undefined],
    ['GET', `${BASE}/info`, undefined],
    ['GET', `${BASE}/metrics`, undefined],
    ['GET', `${BASE}/presence/team`, undefined],
  ] as const;
  const send = (
    port: number,
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ) => rawRequest(port, formatRequest(method, path, headers, body));
  /** A cross-site "simple" request: no preflight, so a page of any site can make it. */
  const crossSite = (port: number, type: string) =>
    send(
      port,
      'POST',
      `${BASE}/publish`,
      { Origin: 'https://evil.example', 'Content-Type': type },
      '{"data":"cross-site broadcast"}',
    );

  test('the admin routes refuse anyone; streams still open', async () => {
    const server = await startApp('node', { env: { SSE_PUBLISH_KEY: '' } });
    try {
      const watcher = openSse(server.port, `${BASE}/stream/team/alice`);
      await watcher.waitFor(() => watcher.events.length > 0, 10_000, 'connected');
      const seen: string[] = [];
      for (const [method, path, body] of admin) {
        for (const headers of [
          { 'Content-Type': 'application/json' },
          { 'Content-Type': 'application/json', Authorization: 'Bearer guessed-key' },
        ] as Record<string, string>[]) {
          const answer = await send(server.port, method, path, headers, body);
          expect(answer.status, `${method} ${path}`).toBe(403);
          expect(JSON.parse(answer.body)).toMatchObject({ code: 403, error: 'forbidden' });
        }
        seen.push(`${method} ${path.slice(BASE.length)} -> 403`);
      }
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        expect((await crossSite(server.port, type)).status).toBe(403);
      }
      // Nothing was delivered and the watcher was not kicked.
      expect(watcher.events.map((e) => e.event)).toEqual(['connected']);
      expect(watcher.closed).toBe(false);
      watcher.end();
      report('closed defaults', seen.join(', '), {
        message: (
          JSON.parse((await send(server.port, 'GET', `${BASE}/info`, {})).body) as {
            message: string;
          }
        ).message,
      });
    } finally {
      await server.kill();
    }
  });

  test('SSE_UNSAFE_OPEN_ADMIN=1 opens them with one warning; a cross-site text/plain publish still gets 415', async () => {
    const server = await startApp('node', {
      env: { SSE_PUBLISH_KEY: '', SSE_UNSAFE_OPEN_ADMIN: '1' },
    });
    try {
      const watcher = openSse(server.port, `${BASE}/stream/team/alice`);
      await watcher.waitFor(() => watcher.events.length > 0, 10_000, 'connected');
      const statuses: Record<string, number> = {};
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
      ]) {
        const answer = await crossSite(server.port, type);
        expect(answer.status, type).toBe(415);
        statuses[type] = answer.status;
      }
      const noType = await send(server.port, 'POST', `${BASE}/publish`, {}, '{"data":1}');
      expect(noType.status).toBe(415);
      statuses['no Content-Type'] = noType.status;
      const json = await postJson(server.port, `${BASE}/publish`, { data: 'local dev' });
      expect(json.status).toBe(200);
      await watcher.waitFor(
        () => watcher.events.some((e) => e.data === 'local dev'),
        5_000,
        'the JSON publish',
      );
      expect(watcher.events.filter((e) => e.data.includes('cross-site'))).toEqual([]);
      watcher.end();
      const warnings = server.output().match(/UNSAFE: unsafeOpenAdminRoutes/g) ?? [];
      expect(warnings).toHaveLength(1);
      report('unsafe open admin', 'one warning at start; cross-site simple requests refused', {
        ...statuses,
        'application/json': json.status,
      });
    } finally {
      await server.kill();
    }
  });
});

describe('auth (apps/node with SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS)', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startApp('node', {
      env: { SSE_SECRET: SECRET, SSE_PUBLISH_KEY: KEY, SSE_CORS_ORIGINS: ORIGIN },
    });
  });
  afterAll(() => server?.kill());

  const stream = (path: string, headers: Record<string, string> = {}) =>
    rawRequest(server.port, formatRequest('GET', path, headers), { timeoutMs: 800 });

  test('a valid token opens the stream', async () => {
    const token = await signJwt({ sub: 'alice', groups: ['team'] }, SECRET, { expiresIn: 60 });
    const response = await stream(`${BASE}/stream/team/alice?token=${token}`);
    expect(response.status).toBe(200);
    expect(response.body).toContain('event: connected');
  });

  test.each<[string, () => Promise<string | undefined>, number[]]>([
    [
      'token for another id',
      () => signJwt({ sub: 'mallory', groups: ['team'] }, SECRET, { expiresIn: 60 }),
      [403],
    ],
    [
      'token for another group',
      () => signJwt({ sub: 'alice', groups: ['other'] }, SECRET, { expiresIn: 60 }),
      [403],
    ],
    [
      'expired token',
      () => signJwt({ sub: 'alice', groups: ['team'], exp: now() - 5 }, SECRET),
      [401],
    ],
    [
      'token not yet valid',
      () => signJwt({ sub: 'alice', groups: ['team'], nbf: now() + 600, exp: now() + 900 }, SECRET),
      [401],
    ],
    [
      'token without groups (admits to no group)',
      () => signJwt({ sub: 'alice' }, SECRET, { expiresIn: 60 }),
      [403],
    ],
    [
      'token without exp (valid for ever)',
      () => signJwt({ sub: 'alice', groups: ['team'] }, SECRET),
      [401],
    ],
    [
      'bad signature (other secret)',
      () =>
        signJwt({ sub: 'alice', groups: ['team'] }, 'another-secret-entirely', { expiresIn: 60 }),
      [401],
    ],
    [
      'bad signature (payload edited after signing)',
      async () => {
        const [h, , s] = (
          await signJwt({ sub: 'bob', groups: ['team'] }, SECRET, { expiresIn: 60 })
        ).split('.');
        return `${h}.${b64({ sub: 'alice', groups: ['team'], exp: now() + 60 })}.${s}`;
      },
      [401],
    ],
    [
      'alg swap to none, empty signature',
      async () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', groups: ['team'], exp: now() + 60 })}.`,
      [401],
    ],
    [
      'alg swap to HS512 with a valid HS256 signature',
      async () => {
        const [, p, s] = (
          await signJwt({ sub: 'alice', groups: ['team'] }, SECRET, { expiresIn: 60 })
        ).split('.');
        return `${b64({ alg: 'HS512', typ: 'JWT' })}.${p}.${s}`;
      },
      [401],
    ],
    [
      'alg swap to RS256',
      async () => {
        const [, p, s] = (
          await signJwt({ sub: 'alice', groups: ['team'] }, SECRET, { expiresIn: 60 })
        ).split('.');
        return `${b64({ alg: 'RS256', typ: 'JWT' })}.${p}.${s}`;
      },
      [401],
    ],
    ['garbage token', async () => 'not.a.jwt', [401]],
    [
      'token without sub',
      () => signJwt({ groups: '*' } as never, SECRET, { expiresIn: 60 }),
      [401],
    ],
    [
      'token whose exp is a string',
      () => signJwt({ sub: 'alice', exp: '9999999999' as never }, SECRET),
      [401],
    ],
    [
      'token whose groups is not a list',
      () => signJwt({ sub: 'alice', groups: 'team' as never }, SECRET, { expiresIn: 60 }),
      [401],
    ],
    ['missing token', async () => undefined, [401]],
  ])('%s is refused', async (name, make, statuses) => {
    const token = await make();
    const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
    const viaQuery = await stream(`${BASE}/stream/team/alice${query}`);
    expect(statuses).toContain(viaQuery.status);
    expect((JSON.parse(viaQuery.body) as { message: string }).message).toBeTruthy();
    expect(viaQuery.body).not.toContain('event:');
    if (token !== undefined) {
      // The same token as a Bearer header and as the cookie.
      const viaHeader = await stream(`${BASE}/stream/team/alice`, {
        Authorization: `Bearer ${token}`,
      });
      expect(viaHeader.status).toBe(viaQuery.status);
      const viaCookie = await stream(`${BASE}/stream/team/alice`, {
        Cookie: `ssehub_token=${encodeURIComponent(token)}`,
      });
      expect(viaCookie.status).toBe(viaQuery.status);
    }
    report('auth', `${name} -> ${viaQuery.status}`, {
      message: (JSON.parse(viaQuery.body) as { message: string }).message,
    });
  });

  test.each([
    ['POST', `${BASE}/publish`, JSON.stringify({ data: 'x' })],
    ['POST', `${BASE}/disconnect/team/alice`, undefined],
    ['GET', `${BASE}/info`, undefined],
    ['GET', `${BASE}/metrics`, undefined],
    ['GET', `${BASE}/presence/team`, undefined],
  ] as const)('%s %s needs the publisher key', async (method, path, body) => {
    const send = (headers: Record<string, string>) =>
      rawRequest(
        server.port,
        formatRequest(method, path, { 'Content-Type': 'application/json', ...headers }, body),
      );
    const missing = await send({});
    const wrong = await send({ Authorization: `Bearer ${KEY}x` });
    const wrongScheme = await send({ Authorization: `Basic ${KEY}` });
    const right = await send({ Authorization: `Bearer ${KEY}` });
    expect(missing.status).toBe(401);
    expect(wrong.status).toBe(403);
    expect(wrongScheme.status).toBe(401);
    expect(right.status).toBe(200);
    for (const r of [missing, wrong, wrongScheme])
      expect((JSON.parse(r.body) as { message: string }).message).toBeTruthy();
    report('publisher key', `${method} ${path}: none -> 401, wrong -> 403, right -> 200`);
  });

  test('CORS refuses unknown origins and allows the configured one', async () => {
    const token = await signJwt({ sub: 'alice', groups: ['team'] }, SECRET, { expiresIn: 60 });
    const evil = await stream(`${BASE}/stream/team/alice?token=${token}`, {
      Origin: 'https://evil.example',
    });
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await rawRequest(
      server.port,
      formatRequest('OPTIONS', `${BASE}/publish`, {
        Origin: 'https://evil.example',
        'Access-Control-Request-Method': 'POST',
      }),
    );
    expect(preflight.status).toBe(403);
    const lookalike = await stream(`${BASE}/stream/team/alice?token=${token}`, {
      Origin: `${ORIGIN}.evil.example`,
    });
    expect(lookalike.status).toBe(403);
    const nullOrigin = await stream(`${BASE}/stream/team/alice?token=${token}`, { Origin: 'null' });
    expect(nullOrigin.status).toBe(403);
    const good = await stream(`${BASE}/stream/team/alice?token=${token}`, { Origin: ORIGIN });
    expect(good.status).toBe(200);
    expect(good.headers['access-control-allow-origin']).toBe(ORIGIN);
    const publish = await postJson(
      server.port,
      `${BASE}/publish`,
      { data: 'x' },
      { Origin: 'https://evil.example', Authorization: `Bearer ${KEY}` },
    );
    expect(publish.status).toBe(403);
    report('cors', 'unknown, look-alike and null origins -> 403 (stream, preflight, publish)', {
      allowed: good.status,
    });
  });
});

describe('limits (apps/node with SSE_MAX_CONNECTIONS, SSE_MAX_PER_CLIENT, SSE_MAX_PER_IP)', () => {
  const open: SseClient[] = [];
  afterAll(() => {
    for (const client of open) client.reset();
  });

  const fill = async (server: ServerProcess, paths: string[]) => {
    for (const path of paths) {
      const client = openSse(server.port, path);
      open.push(client);
      expect((await client.ready).status).toBe(200);
      await client.waitFor(() => client.events.length > 0, 5_000, 'connected');
    }
  };

  test('total, per client and per IP, each with a clear status', async () => {
    const perClient = await startApp('node', { env: { SSE_MAX_PER_CLIENT: '2' } });
    const perIp = await startApp('node', { env: { SSE_MAX_PER_IP: '3' } });
    const total = await startApp('node', { env: { SSE_MAX_CONNECTIONS: '4' } });
    try {
      await fill(perClient, [`${BASE}/stream/g/a`, `${BASE}/stream/g/a`]);
      const third = await getJson(perClient.port, `${BASE}/stream/g/a`);
      expect(third.status).toBe(429);
      const other = openSse(perClient.port, `${BASE}/stream/g/b`);
      open.push(other);
      expect((await other.ready).status).toBe(200);
      report('limit per client', `3rd stream of (g, a) -> ${third.status}`, {
        message: (third.json as { message: string }).message,
      });

      await fill(perIp, [`${BASE}/stream/g/a`, `${BASE}/stream/g/b`, `${BASE}/stream/h/c`]);
      const fourth = await getJson(perIp.port, `${BASE}/stream/g/d`);
      expect(fourth.status).toBe(429);
      report('limit per IP', `4th stream from 127.0.0.1 -> ${fourth.status}`, {
        message: (fourth.json as { message: string }).message,
      });

      await fill(
        total,
        [1, 2, 3, 4].map((n) => `${BASE}/stream/g/u${n}`),
      );
      const fifth = await getJson(total.port, `${BASE}/stream/g/u5`);
      expect(fifth.status).toBe(503);
      expect(fifth.headers['retry-after']).toBeDefined();
      report('limit total', `5th stream -> ${fifth.status}`, {
        retryAfter: fifth.headers['retry-after'],
        message: (fifth.json as { message: string }).message,
      });

      // A slot freed by a client going away (here: an abrupt reset) is available again.
      const first = open.find((c) => c.socket.remotePort === total.port)!;
      first.reset();
      let again = 0;
      for (let attempt = 0; attempt < 100 && again !== 200; attempt++) {
        const retry = openSse(total.port, `${BASE}/stream/g/u6`);
        open.push(retry);
        again = (await retry.ready).status;
        if (again !== 200) await new Promise((r) => setTimeout(r, 20));
      }
      expect(again).toBe(200);
      report('limit total', 'slot of a reset client is reusable', { status: again });
    } finally {
      await Promise.all([perClient.kill(), perIp.kill(), total.kill()]);
    }
  });
});
