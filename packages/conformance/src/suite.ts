/**
 * The conformance suite, written once: `defineConformanceSuite(fixture)` declares vitest tests
 * that run against one example app, started as its own process (one process per test group,
 * each with the `SSE_*` variables the group needs).
 */

import { connect as connectHttp2 } from 'node:http2';
import { signJwt } from '@ssehub/core';
import type { EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  chromiumPath,
  closeChromium,
  type EventSourceClient,
  launchChromium,
  openChromiumEventSource,
  openEventSource,
  openPaused,
  openRaw,
  type RawStream,
  suiteFetch,
  waitFor,
} from './clients.js';
import { type Check, type Fixture, type RunningFixture, startFixture } from './fixture.js';

// ---------------------------------------------------------------- server handle

const BASE = '/api/v1/sse';
/** The publisher key every group's instance gets (`SSE_PUBLISH_KEY`) unless the group says otherwise. */
const ADMIN_KEY = 'conformance-key';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected loosely.
  readonly json: any;
}

/** A started fixture and the calls the tests make on it. */
class Server {
  running!: RunningFixture;
  /** Sent as `Authorization: Bearer` by `request` unless the request sets its own. */
  adminKey: string | undefined = ADMIN_KEY;

  get url(): string {
    return `${this.running.origin}${BASE}`;
  }

  /** A request with the publisher key, unless `init` sets `authorization` or `key` is null. */
  async request(
    path: string,
    init: RequestInit = {},
    key: string | null | undefined = this.adminKey,
  ): Promise<Answer> {
    const headers = new Headers(init.headers);
    if (key != null && !headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
    const response = await suiteFetch(`${this.url}${path}`, { ...init, headers });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  publish(body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request('/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  }

  /** Publishes and expects 200; resolves with `delivered`. */
  async send(body: unknown, headers: Record<string, string> = {}): Promise<number> {
    const answer = await this.publish(body, headers);
    if (answer.status !== 200) throw new Error(`publish answered ${answer.status}: ${answer.text}`);
    return answer.json.data.delivered as number;
  }

  // biome-ignore lint/suspicious/noExplicitAny: hub info, inspected loosely.
  async info(headers: Record<string, string> = {}): Promise<any> {
    const answer = await this.request('/info', { headers });
    if (answer.status !== 200) throw new Error(`info answered ${answer.status}: ${answer.text}`);
    return answer.json.data;
  }

  stream(path: string, headers: Record<string, string> = {}): Promise<RawStream> {
    return openRaw(`${this.url}${path}`, headers);
  }
}

const isConnected = (e: EventSourceMessage) => e.event === 'connected';
/**
 * Past Bun's default idleTimeout (10 s, the shortest idle cut among the runtimes), which Bun
 * checks on a coarse timer: a stream it cuts is gone after about 12 s.
 */
const QUIET_MS = 15_000;
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

// ---------------------------------------------------------------- suite

/**
 * Checks that fail on every fixture because of a known bug below the adapters, skipped (with the
 * reason in the test name) until it is fixed. `SSEHUB_RUN_KNOWN_ISSUES=1` runs them anyway.
 */
export const KNOWN_ISSUES: Partial<Record<Check, string>> = {};

/** Options of one run of the suite. */
export interface SuiteOptions {
  /** Checks to skip on top of the fixture's own `skip`. */
  readonly skip?: readonly Check[];
}

/**
 * Declares the whole suite for one fixture: a `describe` per group of checks, each group with
 * its own process of the fixture. Checks the fixture lists in `skip` show as skipped.
 */
export function defineConformanceSuite(fixture: Fixture, options: SuiteOptions = {}): void {
  const skipped = new Set<Check>([...(fixture.skip ?? []), ...(options.skip ?? [])]);
  const known = process.env.SSEHUB_RUN_KNOWN_ISSUES === '1' ? {} : KNOWN_ISSUES;
  for (const name of Object.keys(known) as Check[]) skipped.add(name);
  // Only where Chromium cannot be had at all (chromium.ts says so loudly): not on CI.
  if (!skipped.has('disconnect-chromium') && chromiumPath() === undefined)
    skipped.add('disconnect-chromium');
  // HTTP/2 needs TLS for browsers: only fixtures that serve HTTPS run it.
  if (!fixture.tls || chromiumPath() === undefined) skipped.add('http2');
  const readTimeoutMs = fixture.proxyReadTimeoutMs;
  if (readTimeoutMs === undefined) skipped.add('proxy-timeout');
  afterAll(closeChromium);
  /** The instance the running test talks to: its output is printed when the test fails. */
  let current: Server | undefined;
  const check = (name: Check, title: string, body: () => Promise<void>, timeoutMs?: number) =>
    test.skipIf(skipped.has(name))(
      known[name] ? `${name}: ${title} (known issue: ${known[name]})` : `${name}: ${title}`,
      async ({ onTestFailed }) => {
        const server = current;
        onTestFailed(() => {
          const output = server?.running?.output() ?? '';
          console.error(`--- ${fixture.name} output (last 4 KB) ---\n${output.slice(-4096)}`);
        });
        await body();
      },
      timeoutMs,
    );

  /** A describe block with its own instance of the fixture, started only if a check runs. */
  const group = (
    title: string,
    checks: readonly Check[],
    env: Record<string, string>,
    body: (server: Server) => void,
  ) => {
    const active = checks.some((c) => !skipped.has(c));
    describe.skipIf(!active)(title, () => {
      const server = new Server();
      const settings = { SSE_PUBLISH_KEY: ADMIN_KEY, ...env };
      server.adminKey = settings.SSE_PUBLISH_KEY || undefined;
      beforeAll(async () => {
        current = server;
        server.running = await startFixture(fixture, settings);
      }, 240_000);
      beforeEach(() => {
        current = server;
      });
      afterAll(async () => {
        // Graceful shutdown is the `shutdown` check's business: here, just make sure it is gone.
        await server.running?.stop(0);
      });
      body(server);
    });
  };

  describe(`${fixture.name} (${fixture.runtime})`, () => {
    // A stream left silent while every other group runs, checked last: no idle timeout of the
    // runtime or framework (Bun's idleTimeout is 10 s by default) may cut it.
    const quiet = { server: new Server(), stream: undefined as RawStream | undefined, since: 0 };
    if (!skipped.has('quiet-stream')) {
      beforeAll(async () => {
        quiet.server.running = await startFixture(fixture, {
          SSE_HEARTBEAT_MS: '600000',
          SSE_PUBLISH_KEY: ADMIN_KEY,
        });
        quiet.stream = await quiet.server.stream('/stream/quiet/a');
        await quiet.stream.next(isConnected, 'connected');
        quiet.since = Date.now();
      }, 240_000);
      afterAll(async () => {
        quiet.stream?.close();
        await quiet.server.running?.stop(0);
      });
    }

    group(
      'streams',
      [
        'headers',
        'connected',
        'encoding',
        'heartbeat',
        'replay',
        'replay-burst',
        'reset',
        'disconnect-eventsource',
        'disconnect-undici',
        'disconnect-chromium',
        'info-metrics',
        'client-abort',
        'errors',
        'json-only',
        'head-options',
      ],
      {
        SSE_HEARTBEAT_MS: '300',
        SSE_RETRY_MS: '250',
        SSE_MAX_BODY: '4096',
        SSE_METRICS_GROUPS: 'stats',
      },
      (server) => {
        check('headers', 'a stream answers 200 with the SSE headers', async () => {
          const stream = await server.stream('/stream/h/a');
          try {
            expect(stream.status).toBe(200);
            expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream\b/);
            expect(stream.headers.get('cache-control')).toMatch(/no-cache/);
            expect(stream.headers.get('x-accel-buffering')).toBe('no');
            expect(stream.headers.get('content-length')).toBeNull();
            expect(stream.headers.get('content-encoding')).toBeNull();
            await stream.next(isConnected, 'connected');
          } finally {
            stream.close();
          }
        });

        check('connected', 'retry, then a connected event naming the client', async () => {
          const byPath = await server.stream('/stream/room/alice');
          const byQuery = await server.stream('/stream?group=room&id=bob');
          try {
            for (const [stream, id] of [
              [byPath, 'alice'],
              [byQuery, 'bob'],
            ] as const) {
              const connected = await stream.next(isConnected, 'connected');
              expect(stream.events[0]).toBe(connected);
              expect(JSON.parse(connected.data)).toMatchObject({ group: 'room', id });
              expect(typeof JSON.parse(connected.data).connectionId).toBe('string');
              // The fixtures' retryMs is 250, spread per connection by the default retryJitter 0.5.
              expect(stream.text).toMatch(/^retry: \d+\n/);
              expect(stream.retries[0]).toBeGreaterThanOrEqual(250);
              expect(stream.retries[0]).toBeLessThanOrEqual(375);
            }
          } finally {
            byPath.close();
            byQuery.close();
          }
        });

        check(
          'encoding',
          'event types, ids, retry, multi-line, unicode and JSON data',
          async () => {
            const stream = await server.stream('/stream/enc/a');
            try {
              await stream.next(isConnected, 'connected');
              const to = { group: 'enc', id: 'a' };
              await server.send({
                ...to,
                event: 'task_progress',
                data: { task: 't1', percent: 40 },
              });
              await server.send({ ...to, event: 'typed', data: 'x', eventId: 'app-id-1' });
              await server.send({ ...to, data: 'line1\nline2\r\nline3\rline4' });
              await server.send({ ...to, data: '\nblank around\n' });
              const unicode = 'héllo — 世界 🎉 \u2028 ﷽';
              await server.send({ ...to, event: 'unicode', data: unicode });
              const json = { a: [1, { b: 'ü' }], n: null, s: 'quote " and \\ backslash', t: true };
              await server.send({ ...to, event: 'json', data: json });
              await server.send({ ...to, event: 'retry', data: 'r', retry: 4321 });
              await server.send({ ...to, event: 'end', data: 'end' });
              await stream.next((e) => e.event === 'end', 'the last event');
              const [progress, typed, multi, blank, uni, parsed, retry] = stream.events.slice(1);
              expect(progress?.event).toBe('task_progress');
              expect(JSON.parse(progress!.data)).toEqual({ task: 't1', percent: 40 });
              expect(typed).toMatchObject({ event: 'typed', id: 'app-id-1', data: 'x' });
              expect(stream.text).toContain('event: typed\nid: app-id-1\ndata: x\n\n');
              expect(multi).toMatchObject({ event: undefined, data: 'line1\nline2\nline3\nline4' });
              expect(stream.text).toContain(
                'data: line1\ndata: line2\ndata: line3\ndata: line4\n\n',
              );
              expect(blank?.data).toBe('\nblank around\n');
              expect(uni?.data).toBe(unicode);
              expect(JSON.parse(parsed!.data)).toEqual(json);
              expect(retry?.data).toBe('r');
              // The connection's own retry (250 spread by the default jitter), then the event's.
              expect(stream.retries).toHaveLength(2);
              expect(stream.retries[0]).toBeGreaterThanOrEqual(250);
              expect(stream.retries[0]).toBeLessThanOrEqual(375);
              expect(stream.retries[1]).toBe(4321);
              // Hub-assigned ids: present and distinct on every event.
              const ids = stream.events.slice(1).map((e) => e.id);
              expect(ids.every((id) => typeof id === 'string' && id !== '')).toBe(true);
              expect(new Set(ids).size).toBe(ids.length);
            } finally {
              stream.close();
            }
          },
        );

        check(
          'heartbeat',
          'comments keep a quiet stream alive (SSE_HEARTBEAT_MS=300)',
          async () => {
            const stream = await server.stream('/stream/hb/a');
            try {
              await stream.next(isConnected, 'connected');
              await waitFor(() => stream.comments.length >= 2, 'two heartbeats', 5_000);
              expect(stream.text).toMatch(/\n\n:[^\n]*\n\n/);
              expect(stream.events.map((e) => e.event)).toEqual(['connected']);
              expect(stream.ended).toBe(false);
            } finally {
              stream.close();
            }
          },
        );

        for (const via of ['header', 'query'] as const) {
          check(
            'replay',
            `reconnect with Last-Event-ID (${via}) while events flow: no gap, no duplicate`,
            async () => {
              const group = `replay-${via}`;
              const first = await server.stream(`/stream/${group}/a`);
              await first.next(isConnected, 'connected');
              let published = 0;
              let stopped = false;
              const publisher = (async () => {
                while (!stopped) {
                  published++;
                  await server.send({ group, event: 'seq', data: String(published) });
                }
              })();
              let second: RawStream | undefined;
              try {
                await first.next((e) => e.event === 'seq' && Number(e.data) >= 20, 'event 20');
                first.close();
                const before = first.events.filter((e) => e.event === 'seq');
                const lastId = before.at(-1)!.id!;
                const atReconnect = published;
                second =
                  via === 'header'
                    ? await server.stream(`/stream/${group}/a`, { 'last-event-id': lastId })
                    : await server.stream(
                        `/stream/${group}/a?lastEventId=${encodeURIComponent(lastId)}`,
                      );
                const s = second;
                // Keep publishing until live events follow the replay.
                await s.next(
                  (e) => e.event === 'seq' && Number(e.data) >= atReconnect + 10,
                  'live events after the replay',
                );
                stopped = true;
                await publisher;
                await s.next((e) => e.event === 'seq' && Number(e.data) === published, 'the last');
                const after = s.events.filter((e) => e.event === 'seq');
                expect([...before, ...after].map((e) => e.data)).toEqual(range(1, published));
              } finally {
                stopped = true;
                await publisher.catch(() => {});
                first.close();
                second?.close();
              }
            },
            30_000,
          );
        }

        check(
          'replay-burst',
          'a reconnect after 300 missed events replays them all and stays connected',
          async () => {
            const away = await server.stream('/stream/burst/a');
            await away.next(isConnected, 'connected');
            await server.send({ group: 'burst', id: 'a', event: 'start', data: 'start' });
            const start = await away.next((e) => e.event === 'start', 'the start event');
            away.close();
            await waitFor(
              async () => (await server.info()).groups.burst === undefined,
              'the client to be gone',
            );
            const slowBefore = (await server.info()).counters.slowDisconnects;
            const count = 300;
            for (const n of range(1, count))
              await server.send({
                group: 'burst',
                id: 'a',
                event: 'n',
                data: `${n} ${'x'.repeat(200)}`,
              });
            const back = await server.stream('/stream/burst/a', { 'last-event-id': start.id! });
            try {
              await waitFor(
                () => back.ended || back.events.filter((e) => e.event === 'n').length >= count,
                'the replay',
              );
              const numbers = back.events
                .filter((e) => e.event === 'n')
                .map((e) => e.data.split(' ')[0]);
              expect(numbers).toEqual(range(1, count));
              expect(back.ended).toBe(false);
              expect((await server.info()).counters.slowDisconnects).toBe(slowBefore);
            } finally {
              back.close();
            }
          },
          30_000,
        );

        check('reset', 'an unknown Last-Event-ID gets a reset event', async () => {
          await server.send({ group: 'reset', data: 'something in the history' });
          const stream = await server.stream('/stream/reset/a', {
            'last-event-id': 'no-such-id',
          });
          try {
            const reset = await stream.next((e) => e.event === 'reset', 'reset');
            expect(stream.events.map((e) => e.event)).toEqual(['connected', 'reset']);
            expect(JSON.parse(reset.data)).toMatchObject({ lastEventId: 'no-such-id' });
            // The reset carries an id to resume from, so the next reconnect replays from here.
            expect(reset.id).toBeDefined();
            await server.send({ group: 'reset', id: 'a', event: 'after', data: 'live' });
            await stream.next((e) => e.event === 'after', 'a live event after the reset');
          } finally {
            stream.close();
          }
        });

        const clientNames = {
          eventsource: 'npm eventsource',
          undici: "undici's EventSource",
          chromium: "Chromium's EventSource",
        };
        for (const kind of ['eventsource', 'undici', 'chromium'] as const) {
          check(
            `disconnect-${kind}`,
            `the disconnect route: ${clientNames[kind]} reconnects and replays`,
            async () => {
              const group = `dc-${kind}`;
              const url = `${server.url}/stream/${group}/u1`;
              const types = ['connected', 'tick'];
              const client: EventSourceClient =
                kind === 'chromium'
                  ? await openChromiumEventSource(url, types)
                  : openEventSource(kind, url, types);
              const ticks = () => client.events.filter((e) => e.type === 'tick');
              const connections = () => client.events.filter((e) => e.type === 'connected').length;
              try {
                await waitFor(() => connections() === 1, 'the first connected event');
                for (const n of range(1, 3))
                  await server.send({ group, id: 'u1', event: 'tick', data: n });
                await waitFor(() => ticks().length === 3, 'ticks 1-3');
                const replayedBefore = (await server.info()).counters.eventsReplayed;
                const kicked = await server.request(`/disconnect/${group}/u1`, { method: 'POST' });
                expect(kicked.status).toBe(200);
                expect(kicked.json).toEqual({ code: 200, data: { disconnected: 1 } });
                // Sent while the client is away (retry is 250 ms): they must come back by replay.
                let live = 0;
                for (const n of range(4, 6))
                  live += await server.send({ group, id: 'u1', event: 'tick', data: n });
                await waitFor(
                  () => connections() === 2 && ticks().length >= 6,
                  'the reconnect and ticks 4-6',
                );
                await server.send({ group, id: 'u1', event: 'tick', data: '7' });
                await waitFor(() => ticks().length >= 7, 'tick 7');
                expect(ticks().map((e) => e.data)).toEqual(range(1, 7));
                // Each of 4-6 reached the client once: live, or replayed after Last-Event-ID.
                const replayed = (await server.info()).counters.eventsReplayed - replayedBefore;
                expect(live + replayed).toBe(3);
                expect(client.opens).toBe(2);
                expect(new Set(ticks().map((e) => e.lastEventId)).size).toBe(7);
              } finally {
                client.close();
              }
            },
            30_000,
          );
        }

        check(
          'info-metrics',
          'info and metrics count groups, clients and connections',
          async () => {
            const streams = await Promise.all([
              server.stream('/stream/stats/a'),
              server.stream('/stream/stats/a'),
              server.stream('/stream/stats/b'),
            ]);
            try {
              await Promise.all(streams.map((s) => s.next(isConnected, 'connected')));
              const info = await server.info();
              expect(info.groups.stats).toBe(2);
              expect(info.connectionCount).toBeGreaterThanOrEqual(3);
              expect(info.clientCount).toBeGreaterThanOrEqual(2);
              expect(info.groupCount).toBeGreaterThanOrEqual(1);
              expect(info.counters.connectionsOpened).toBeGreaterThanOrEqual(3);
              const metrics = await server.request('/metrics');
              expect(metrics.status).toBe(200);
              expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
              // Per-group series only for the groups listed (SSE_METRICS_GROUPS).
              expect(metrics.text).toContain('ssehub_group_clients{group="stats"} 2\n');
              expect(metrics.text.match(/^ssehub_group_clients\{/gm)).toHaveLength(1);
              expect(metrics.text).toMatch(/^# TYPE ssehub_connections gauge$/m);
              expect(metrics.text).toMatch(/^# TYPE ssehub_write_delay_seconds histogram$/m);
              expect(metrics.text).toMatch(/^ssehub_write_delay_seconds_count [1-9]/m);
              expect(metrics.text).toMatch(
                /^ssehub_disconnects_total\{reason="client-closed"\} \d+$/m,
              );
              const connections = Number(/^ssehub_connections (\d+)$/m.exec(metrics.text)?.[1]);
              expect(connections).toBeGreaterThanOrEqual(3);
            } finally {
              for (const s of streams) s.close();
            }
          },
        );

        check('client-abort', 'a client that goes away is removed from the hub', async () => {
          const stream = await server.stream('/stream/abort/a');
          await stream.next(isConnected, 'connected');
          expect((await server.info()).groups.abort).toBe(1);
          const closedBefore = (await server.info()).counters.connectionsClosed;
          stream.close();
          await waitFor(
            async () => (await server.info()).groups.abort === undefined,
            'the hub to drop the connection',
          );
          expect((await server.info()).counters.connectionsClosed).toBeGreaterThan(closedBefore);
        });

        check('errors', 'bad requests get JSON errors, never a crash', async () => {
          const expectError = (answer: Answer, status: number) => {
            expect(answer.status, answer.text).toBe(status);
            expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
            expect(answer.json).toMatchObject({ code: status });
          };
          const post = (body: string, type = 'application/json') =>
            server.request('/publish', {
              method: 'POST',
              headers: { 'content-type': type },
              body,
            });
          expectError(await post('{"data": '), 400);
          expectError(await post('[1, 2]'), 400);
          expectError(await post('{"group": "g"}'), 400);
          expectError(await post('{"id": "a", "data": 1}'), 400);
          expectError(await post('{"group": "bad group!", "data": 1}'), 400);
          expectError(await post(JSON.stringify({ data: 'x'.repeat(8_000) })), 413);
          expectError(await post('data', 'application/x-www-form-urlencoded'), 415);
          expectError(await server.request('/nowhere'), 404);
          expectError(await server.request('/stream/a/b/c'), 404);
          expectError(await server.request('/stream/bad%20group/a'), 400);
          expectError(await server.request('/stream?group=g'), 400);
          const wrong = await server.request('/publish');
          expectError(wrong, 405);
          expect(wrong.headers.get('allow')).toMatch(/POST/);
          expectError(await server.request('/stream/g/a', { method: 'POST' }), 405);
          expectError(await server.request('/info', { method: 'DELETE' }), 405);
          expectError(await server.request('/disconnect/g/a'), 405);
          expectError(
            await server.request('/stream/g/a', { headers: { 'last-event-id': 'x'.repeat(300) } }),
            400,
          );
          // Still serving.
          expect(await server.send({ group: 'nobody', data: 'ok' })).toBe(0);
        });

        check(
          'json-only',
          'publish takes JSON only: text/plain, forms and no Content-Type get 415; +json types are accepted',
          async () => {
            const stream = await server.stream('/stream/json/a');
            try {
              await stream.next(isConnected, 'connected');
              // What a page of another site can POST without a CORS preflight, and no type at all.
              for (const type of [
                'text/plain',
                'text/plain;charset=UTF-8',
                'application/x-www-form-urlencoded',
                'multipart/form-data; boundary=x',
                undefined,
              ]) {
                const body = new TextEncoder().encode(
                  JSON.stringify({ group: 'json', event: 'refused', data: String(type) }),
                );
                const answer = await server.request('/publish', {
                  method: 'POST',
                  // A Uint8Array body makes fetch send no Content-Type of its own.
                  headers: type === undefined ? {} : { 'content-type': type },
                  body,
                });
                expect(answer.status, String(type)).toBe(415);
                expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
                expect(answer.json).toMatchObject({ code: 415, error: 'unsupported_media_type' });
              }
              for (const type of [
                'application/merge-patch+json',
                'application/json; charset=utf-8',
              ]) {
                expect(
                  await server.send(
                    { group: 'json', event: 'ok', data: type },
                    { 'content-type': type },
                  ),
                ).toBe(1);
              }
              await stream.next(
                (e) => e.event === 'ok' && e.data === 'application/json; charset=utf-8',
                'the two accepted events',
              );
              expect(stream.events.filter((e) => e.event === 'refused')).toEqual([]);
              expect(stream.events.filter((e) => e.event === 'ok').map((e) => e.data)).toEqual([
                'application/merge-patch+json',
                'application/json; charset=utf-8',
              ]);
            } finally {
              stream.close();
            }
          },
        );

        check('head-options', 'HEAD opens no stream; OPTIONS lists the methods', async () => {
          const opened = (await server.info()).counters.connectionsOpened;
          const head = await server.request('/stream/head/a', { method: 'HEAD' });
          expect(head.status).toBe(200);
          expect(head.headers.get('content-type')).toMatch(/^text\/event-stream\b/);
          expect(head.text).toBe('');
          const info = await server.info();
          expect(info.counters.connectionsOpened).toBe(opened);
          expect(info.groups.head).toBeUndefined();
          const options = await server.request('/publish', { method: 'OPTIONS' });
          expect(options.status).toBe(204);
          expect(options.headers.get('allow')).toMatch(/\bPOST\b/);
          expect(options.headers.get('allow')).toMatch(/\bOPTIONS\b/);
        });
      },
    );

    group(
      'routing and presence',
      ['routing', 'presence'],
      // No SSE_HEARTBEAT_MS here: the fixture's own (or the default 30 s) stays. workerd notices a
      // closed client only at its next write, so the workers fixture needs its 1 s heartbeat for
      // the presence check to see the tabs close.
      { SSE_PRESENCE_EVENTS: 'room*', SSE_PRESENCE_GRACE_MS: '1500' },
      (server) => {
        check(
          'routing',
          'unicast, group and broadcast reach exactly their connections',
          async () => {
            const clients = {
              a1: await server.stream('/stream/g1/a'),
              a1bis: await server.stream('/stream/g1/a'),
              b1: await server.stream('/stream/g1/b'),
              a2: await server.stream('/stream/g2/a'),
              c2: await server.stream('/stream/g2/c'),
            };
            const all = Object.values(clients);
            try {
              await Promise.all(all.map((s) => s.next(isConnected, 'connected')));
              expect(await server.send({ group: 'g1', id: 'a', event: 'unicast', data: '1' })).toBe(
                2,
              );
              expect(await server.send({ group: 'g2', event: 'group', data: '2' })).toBe(2);
              expect(await server.send({ event: 'broadcast', data: '3' })).toBe(5);
              expect(
                await server.send({ group: 'g2', id: 'a', event: 'unicast2', data: '4' }),
              ).toBe(1);
              expect(await server.send({ group: 'g1', id: 'nobody', data: '5' })).toBe(0);
              expect(await server.send({ group: 'g3', data: '6' })).toBe(0);
              // A fence: every connection gets it after everything above, in order.
              expect(await server.send({ event: 'fence', data: 'f' })).toBe(5);
              await Promise.all(all.map((s) => s.next((e) => e.event === 'fence', 'the fence')));
              const seen = (s: RawStream) => s.events.slice(1).map((e) => e.event);
              expect(seen(clients.a1)).toEqual(['unicast', 'broadcast', 'fence']);
              expect(seen(clients.a1bis)).toEqual(['unicast', 'broadcast', 'fence']);
              expect(seen(clients.b1)).toEqual(['broadcast', 'fence']);
              expect(seen(clients.a2)).toEqual(['group', 'broadcast', 'unicast2', 'fence']);
              expect(seen(clients.c2)).toEqual(['group', 'broadcast', 'fence']);
            } finally {
              for (const s of all) s.close();
            }
          },
        );

        check(
          'presence',
          'join and leave once per client (tabs are one presence), after a grace period; GET presence/:group',
          async () => {
            const changes = (s: RawStream) =>
              s.events
                .filter((e) => e.event === 'join' || e.event === 'leave')
                .map((e) => `${e.event} ${JSON.parse(e.data).group} ${JSON.parse(e.data).id}`);
            const watcher = await server.stream('/stream/room1/w');
            const lobby = await server.stream('/stream/lobby/x'); // not opted in
            const tabs: RawStream[] = [];
            try {
              await watcher.next((e) => e.event === 'join', 'its own join');
              tabs.push(
                await server.stream('/stream/room1/a'),
                await server.stream('/stream/room1/a'),
              );
              await Promise.all(tabs.map((t) => t.next(isConnected, 'connected')));
              await watcher.next((e) => e.event === 'join' && e.data.includes('"a"'), 'join a');
              const listed = await server.request('/presence/room1');
              expect(listed.status).toBe(200);
              expect(listed.json).toEqual({
                code: 200,
                data: {
                  group: 'room1',
                  count: 2,
                  clients: [
                    { id: 'a', connections: 2, meta: {} },
                    { id: 'w', connections: 1, meta: {} },
                  ],
                },
              });
              expect((await server.request('/presence/room1', {}, null)).status).toBe(401);
              // A reload: the last tab closes and a new one opens within the grace period.
              tabs[0]!.close();
              tabs[1]!.close();
              await waitFor(
                async () =>
                  (await server.request('/presence/room1')).json.data.clients[0].connections === 0,
                'the tabs to close',
              );
              tabs.push(await server.stream('/stream/room1/a'));
              await tabs[2]!.next(isConnected, 'connected');
              // Past the grace period of the first two tabs: no leave came.
              await new Promise((resolve) => setTimeout(resolve, 2_000));
              expect(changes(watcher)).toEqual(['join room1 w', 'join room1 a']);
              tabs[2]!.close();
              await watcher.next((e) => e.event === 'leave', 'leave a', 10_000);
              expect(changes(watcher)).toEqual(['join room1 w', 'join room1 a', 'leave room1 a']);
              expect((await server.request('/presence/room1')).json.data.count).toBe(1);
              // A group that did not opt in gets no presence events, yet is listed.
              expect(await server.send({ group: 'lobby', event: 'fence', data: 'f' })).toBe(1);
              await lobby.next((e) => e.event === 'fence', 'the fence');
              expect(changes(lobby)).toEqual([]);
              expect((await server.request('/presence/lobby')).json.data.count).toBe(1);
            } finally {
              for (const s of [watcher, lobby, ...tabs]) s.close();
            }
          },
        );
      },
    );

    group('per-ip-limit', ['per-ip-limit'], { SSE_MAX_PER_IP: '2' }, (server) => {
      check(
        'per-ip-limit',
        'the third stream from one address gets 429; a closed one frees its place',
        async () => {
          const first = await server.stream('/stream/ip/a');
          const second = await server.stream('/stream/ip/b');
          try {
            await first.next(isConnected, 'connected');
            await second.next(isConnected, 'connected');
            // A stream (200) would never end: the timeout turns a limit that is off into a failure.
            const third = await server.request('/stream/ip/c', {
              signal: AbortSignal.timeout(10_000),
            });
            expect(third.status, third.text).toBe(429);
            expect(third.headers.get('content-type')).toMatch(/^application\/json/);
            expect(third.json).toMatchObject({ code: 429 });
            first.close();
            await waitFor(
              async () => (await server.info()).groups.ip === 1,
              'the hub to drop the closed stream',
            );
            const again = await server.stream('/stream/ip/c');
            await again.next(isConnected, 'connected');
            again.close();
          } finally {
            first.close();
            second.close();
          }
        },
      );
    });

    const big = 'x'.repeat(200_000);
    for (const policy of ['disconnect', 'drop-oldest'] as const) {
      const name: Check = policy === 'disconnect' ? 'slow-disconnect' : 'slow-drop-oldest';
      group(
        `slow client (${policy})`,
        [name],
        {
          SSE_MAX_QUEUED_EVENTS: '4',
          SSE_SLOW_POLICY: policy,
          SSE_MAX_BODY: '1048576',
          SSE_HEARTBEAT_MS: '60000',
        },
        (server) => {
          check(
            name,
            policy === 'disconnect'
              ? 'a client that stops reading is disconnected, the others are not held up'
              : 'a client that stops reading loses its oldest queued events, in order',
            async () => {
              const slow = await openPaused(`${server.url}/stream/slow/a`);
              const fast = await server.stream('/stream/slow/b');
              try {
                await fast.next(isConnected, 'connected');
                let sent = 0;
                for (; sent < 400; sent++) {
                  await server.send({ group: 'slow', event: 'n', data: `${sent} ${big}` });
                  const counters = (await server.info()).counters;
                  if (counters.slowDisconnects > 0 || counters.eventsDropped > 0) break;
                }
                sent++;
                const info = await server.info();
                // The reader kept up all along.
                await fast.next(
                  (e) => e.event === 'n' && e.data.startsWith(`${sent - 1} `),
                  'every event on the fast client',
                  20_000,
                );
                if (policy === 'disconnect') {
                  expect(info.counters.slowDisconnects).toBe(1);
                  expect(info.groups.slow).toBe(1);
                  slow.resume();
                  await waitFor(() => slow.ended, 'the slow stream to end', 20_000);
                } else {
                  expect(info.counters.eventsDropped).toBeGreaterThan(0);
                  expect(info.counters.slowDisconnects).toBe(0);
                  expect(info.groups.slow).toBe(2);
                  await server.send({ group: 'slow', id: 'a', event: 'last', data: 'done' });
                  slow.resume();
                  await waitFor(
                    () => slow.events.some((e) => e.event === 'last'),
                    'the newest event on the slow client',
                    20_000,
                  );
                  const numbers = slow.events
                    .filter((e) => e.event === 'n')
                    .map((e) => Number(e.data.slice(0, e.data.indexOf(' '))));
                  expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
                  expect(new Set(numbers).size).toBe(numbers.length);
                  expect(numbers.length).toBeLessThan(sent);
                  expect(numbers.at(-1)).toBe(sent - 1);
                  expect(slow.ended).toBe(false);
                }
                const counted = fast.events.filter((e) => e.event === 'n').length;
                expect(counted).toBe(sent);
              } finally {
                slow.close();
                fast.close();
              }
            },
            60_000,
          );
        },
      );
    }

    group(
      'stalled client',
      ['stalled'],
      {
        SSE_SLOW_POLICY: 'drop-oldest',
        SSE_MAX_QUEUED_EVENTS: '50',
        SSE_IDLE_TIMEOUT_MS: '1000',
        SSE_SWEEP_MS: '200',
        SSE_MAX_BODY: '1048576',
        SSE_HEARTBEAT_MS: '60000',
      },
      (server) => {
        check(
          'stalled',
          'a connection that has not drained for SSE_IDLE_TIMEOUT_MS is closed by the sweep',
          async () => {
            const stalled = await openPaused(`${server.url}/stream/stall/a`);
            const reader = await server.stream('/stream/stall/b');
            try {
              await reader.next(isConnected, 'connected');
              const chunk = 'y'.repeat(64 * 1024);
              // Until the transport is blocked and the queue overflows: then it can only stall.
              for (let n = 0; n < 1_000; n++) {
                await server.send({ group: 'stall', id: 'a', data: chunk });
                const { counters } = await server.info();
                if (counters.eventsDropped > 0 || counters.stalledDisconnects > 0) break;
              }
              await waitFor(
                async () => (await server.info()).counters.stalledDisconnects === 1,
                'the stall sweep',
              );
              const info = await server.info();
              expect(info.groups.stall).toBe(1);
              expect(info.counters.slowDisconnects).toBe(0);
              stalled.resume();
              await waitFor(() => stalled.ended, 'the stalled stream to end', 20_000);
              // The reader of the same group is untouched.
              expect(await server.send({ group: 'stall', event: 'still', data: 'here' })).toBe(1);
              await reader.next((e) => e.event === 'still', 'an event on the reader');
            } finally {
              stalled.close();
              reader.close();
            }
          },
          60_000,
        );
      },
    );

    const secret = 'conformance-secret';
    const key = ADMIN_KEY;
    group(
      'auth',
      ['auth', 'publisher-key', 'token-expiry'],
      { SSE_SECRET: secret, SSE_PUBLISH_KEY: key },
      (server) => {
        const refused = async (
          path: string,
          status: number,
          headers: Record<string, string> = {},
        ) => {
          const stream = await server.stream(path, headers);
          stream.close();
          expect(stream.status, stream.body).toBe(status);
          expect(JSON.parse(stream.body)).toMatchObject({ code: status });
        };

        check(
          'auth',
          'streams need a valid HS256 token for their id and group: 401/403',
          async () => {
            const now = Math.floor(Date.now() / 1000);
            const valid = await signJwt({ sub: 'alice', groups: ['room'] }, secret, {
              expiresIn: 60,
            });
            await refused('/stream/room/alice', 401);
            await refused('/stream/room/alice?token=not-a-jwt', 401);
            await refused(
              `/stream/room/alice?token=${await signJwt({ sub: 'alice', groups: '*' }, 'other', { expiresIn: 60 })}`,
              401,
            );
            await refused(
              `/stream/room/alice?token=${await signJwt({ sub: 'alice', exp: now - 10 }, secret)}`,
              401,
            );
            await refused('/stream/room/alice', 401, { authorization: `Bearer ${key}` });
            await refused(`/stream/room/bob?token=${valid}`, 403);
            await refused(`/stream/lobby/alice?token=${valid}`, 403);

            const byQuery = await server.stream(`/stream/room/alice?token=${valid}`);
            const byHeader = await server.stream('/stream/room/alice', {
              authorization: `Bearer ${valid}`,
            });
            const byCookie = await server.stream('/stream/room/alice', {
              cookie: `theme=dark; ssehub_token=${valid}`,
            });
            const npm = openEventSource(
              'eventsource',
              `${server.url}/stream/room/alice`,
              ['connected'],
              {
                authorization: `Bearer ${valid}`,
              },
            );
            const undici = openEventSource(
              'undici',
              `${server.url}/stream/room/alice?token=${valid}`,
              ['connected'],
            );
            try {
              await byQuery.next(isConnected, 'connected (token in the query)');
              await byHeader.next(isConnected, 'connected (Authorization header)');
              await byCookie.next(isConnected, 'connected (token cookie)');
              await waitFor(() => npm.events.length === 1, 'eventsource with a header to connect');
              await waitFor(() => undici.events.length === 1, 'undici EventSource to connect');
              expect(JSON.parse(npm.events[0]!.data)).toMatchObject({ id: 'alice', group: 'room' });
            } finally {
              byQuery.close();
              byHeader.close();
              npm.close();
              undici.close();
            }
          },
        );

        check(
          'publisher-key',
          'publish, disconnect, info, metrics and presence need the publisher key',
          async () => {
            const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
            const routes: [string, RequestInit][] = [
              [
                '/publish',
                {
                  method: 'POST',
                  body: JSON.stringify({ data: 'x' }),
                  headers: { 'content-type': 'application/json' },
                },
              ],
              ['/disconnect/room/alice', { method: 'POST' }],
              ['/info', {}],
              ['/metrics', {}],
              ['/presence/room', {}],
            ];
            for (const [path, init] of routes) {
              const headers = (init.headers ?? {}) as Record<string, string>;
              const none = await server.request(path, init, null);
              expect(none.status, `${path} without a key`).toBe(401);
              expect(none.json).toMatchObject({ code: 401 });
              const wrong = await server.request(path, {
                ...init,
                headers: { ...headers, ...bearer('nope') },
              });
              expect(wrong.status, `${path} with a wrong key`).toBe(403);
              expect(wrong.json).toMatchObject({ code: 403 });
              const right = await server.request(path, {
                ...init,
                headers: { ...headers, ...bearer(key) },
              });
              expect(right.status, `${path} with the key`).toBe(200);
            }
            const token = await signJwt({ sub: 'carol', groups: ['room'] }, secret, {
              expiresIn: 60,
            });
            const stream = await server.stream(`/stream/room/carol?token=${token}`);
            try {
              await stream.next(isConnected, 'connected');
              expect(
                await server.send(
                  { group: 'room', id: 'carol', event: 'hi', data: 'x' },
                  bearer(key),
                ),
              ).toBe(1);
              await stream.next((e) => e.event === 'hi', 'the published event');
            } finally {
              stream.close();
            }
          },
        );
        check(
          'token-expiry',
          'a stream ends when its token expires, counted as an expired disconnect',
          async () => {
            const bearer = { authorization: `Bearer ${key}` };
            const expired = async () => {
              const metrics = await server.request('/metrics', { headers: bearer });
              expect(metrics.status, metrics.text).toBe(200);
              const line = /^ssehub_expired_disconnects_total (\d+)$/m.exec(metrics.text);
              expect(line, 'ssehub_expired_disconnects_total in /metrics').not.toBeNull();
              return Number(line![1]);
            };
            const before = await expired();
            // `exp` counts whole seconds: 2 to 3 s from now.
            const exp = Math.ceil((Date.now() + 2000) / 1000);
            const short = await signJwt({ sub: 'dora', groups: ['room'], exp }, secret);
            const long = await signJwt({ sub: 'erin', groups: ['room'] }, secret, {
              expiresIn: 600,
            });
            const expiring = await server.stream(`/stream/room/dora?token=${short}`);
            const lasting = await server.stream(`/stream/room/erin?token=${long}`);
            try {
              await expiring.next(isConnected, 'connected (short token)');
              await lasting.next(isConnected, 'connected (long token)');
              await waitFor(() => expiring.ended, 'the stream to end at exp', 10_000);
              const endedAt = Date.now();
              expect(endedAt).toBeGreaterThanOrEqual(exp * 1000);
              expect(endedAt).toBeLessThanOrEqual(exp * 1000 + 1500);
              expect(lasting.ended).toBe(false);
              expect(await expired()).toBe(before + 1);
              // The stream with the valid token still delivers.
              expect(await server.send({ group: 'room', event: 'after', data: 'x' }, bearer)).toBe(
                1,
              );
              await lasting.next((e) => e.event === 'after', 'an event on the valid stream');
            } finally {
              expiring.close();
              lasting.close();
            }
          },
          20_000,
        );
      },
    );

    group(
      'closed defaults (no SSE_PUBLISH_KEY)',
      ['closed-defaults'],
      { SSE_PUBLISH_KEY: '', SSE_SECRET: secret, SSE_HEARTBEAT_MS: '60000' },
      (server) => {
        check(
          'closed-defaults',
          'without a publisher key the admin routes answer 403; tokens without groups or exp are refused',
          async () => {
            const routes: [string, RequestInit][] = [
              [
                '/publish',
                {
                  method: 'POST',
                  body: JSON.stringify({ data: 'broadcast by anyone' }),
                  headers: { 'content-type': 'application/json' },
                },
              ],
              ['/disconnect/room/alice', { method: 'POST' }],
              ['/info', {}],
              ['/metrics', {}],
              ['/presence/room', {}],
            ];
            const valid = await signJwt({ sub: 'alice', groups: ['room'] }, secret, {
              expiresIn: 60,
            });
            const open = await server.stream(`/stream/room/alice?token=${valid}`);
            try {
              // The stream route keeps working.
              expect(open.status).toBe(200);
              await open.next(isConnected, 'connected');
              for (const [path, init] of routes) {
                for (const key of [null, 'guess', ADMIN_KEY]) {
                  const answer = await server.request(path, init, key);
                  expect(answer.status, `${path} with key ${key}`).toBe(403);
                  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
                  expect(answer.json).toMatchObject({ code: 403, error: 'forbidden' });
                  expect(answer.json.message).toMatch(/SSE_PUBLISH_KEY/);
                }
              }
              // Nothing reached the stream, and it was not kicked.
              await new Promise((resolve) => setTimeout(resolve, 300));
              expect(open.ended).toBe(false);
              expect(open.events.filter((e) => !isConnected(e))).toEqual([]);
            } finally {
              open.close();
            }

            // Tokens: no "groups" claim admits to no group; no "exp" is refused.
            const noGroups = await signJwt({ sub: 'alice' }, secret, { expiresIn: 60 });
            for (const group of ['room', 'lobby', 'admins']) {
              const refused = await server.stream(`/stream/${group}/alice?token=${noGroups}`);
              refused.close();
              expect(refused.status, `no groups claim, group ${group}`).toBe(403);
              expect(JSON.parse(refused.body)).toMatchObject({ code: 403 });
            }
            const noExp = await signJwt({ sub: 'alice', groups: '*' }, secret);
            const forever = await server.stream(`/stream/room/alice?token=${noExp}`);
            forever.close();
            expect(forever.status).toBe(401);
            expect(JSON.parse(forever.body)).toMatchObject({
              code: 401,
              message: expect.stringMatching(/exp/),
            });
          },
        );
      },
    );

    const allowed = 'https://allowed.example';
    group(
      'cors',
      ['cors'],
      { SSE_CORS_ORIGINS: allowed, SSE_CORS_CREDENTIALS: '1', SSE_HEARTBEAT_MS: '60000' },
      (server) => {
        check(
          'cors',
          'preflight, allowed and refused origins, credentials, Last-Event-ID',
          async () => {
            const preflight = (path: string, origin: string, method: string, headers: string) =>
              server.request(path, {
                method: 'OPTIONS',
                headers: {
                  origin,
                  'access-control-request-method': method,
                  'access-control-request-headers': headers,
                },
              });
            const stream = await preflight('/stream/g/a', allowed, 'GET', 'last-event-id');
            expect(stream.status).toBe(204);
            expect(stream.headers.get('access-control-allow-origin')).toBe(allowed);
            expect(stream.headers.get('access-control-allow-credentials')).toBe('true');
            expect(stream.headers.get('access-control-allow-methods')).toMatch(/\bGET\b/);
            expect(stream.headers.get('access-control-allow-headers')?.toLowerCase()).toContain(
              'last-event-id',
            );
            expect(stream.headers.get('vary')).toMatch(/Origin/i);
            const publish = await preflight(
              '/publish',
              allowed,
              'POST',
              'authorization, content-type',
            );
            expect(publish.status).toBe(204);
            expect(publish.headers.get('access-control-allow-methods')).toMatch(/\bPOST\b/);
            const allowHeaders = publish.headers.get('access-control-allow-headers')?.toLowerCase();
            expect(allowHeaders).toContain('authorization');
            expect(allowHeaders).toContain('content-type');

            const refused = await preflight('/stream/g/a', 'https://evil.example', 'GET', '');
            expect(refused.status).toBe(403);
            expect(refused.headers.get('access-control-allow-origin')).toBeNull();
            const refusedStream = await server.stream('/stream/g/a', {
              origin: 'https://evil.example',
            });
            expect(refusedStream.status).toBe(403);
            expect(JSON.parse(refusedStream.body)).toMatchObject({ code: 403 });

            const open = await server.stream('/stream/g/a', { origin: allowed });
            try {
              expect(open.status).toBe(200);
              expect(open.headers.get('access-control-allow-origin')).toBe(allowed);
              expect(open.headers.get('access-control-allow-credentials')).toBe('true');
              await open.next(isConnected, 'connected');
              const sent = await server.publish({ group: 'g', data: 'x' }, { origin: allowed });
              expect(sent.status).toBe(200);
              expect(sent.headers.get('access-control-allow-origin')).toBe(allowed);
              // Errors too, or the page cannot read why it failed.
              const bad = await server.publish(
                { group: 'bad group', data: 'x' },
                { origin: allowed },
              );
              expect(bad.status).toBe(400);
              expect(bad.headers.get('access-control-allow-origin')).toBe(allowed);
              const missing = await server.request('/nowhere', { headers: { origin: allowed } });
              expect(missing.status).toBe(404);
              expect(missing.headers.get('access-control-allow-origin')).toBe(allowed);
            } finally {
              open.close();
            }
          },
        );
      },
    );

    group('shutdown', ['shutdown'], { SSE_HEARTBEAT_MS: '60000' }, (server) => {
      check(
        'shutdown',
        'SIGTERM ends the streams and exits 0',
        async () => {
          const stream = await server.stream('/stream/bye/a');
          await stream.next(isConnected, 'connected');
          const started = Date.now();
          server.running.process.kill('SIGTERM');
          const code = await Promise.race([
            server.running.exited,
            new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000)),
          ]);
          expect(code).toBe(0);
          await waitFor(() => stream.ended, 'the stream to end', 5_000);
          expect(Date.now() - started).toBeLessThan(10_000);
        },
        20_000,
      );
    });

    group('http2', ['http2'], { SSE_HEARTBEAT_MS: '60000' }, (server) => {
      check(
        'http2',
        '12 tabs of one origin in Chromium share HTTP/2, all connected and receiving',
        async () => {
          // Node's own http2 client: the server offers h2 (ALPN) and streams over it.
          const session = connectHttp2(server.running.origin, { rejectUnauthorized: false });
          session.on('error', () => {});
          try {
            await new Promise<void>((resolve, reject) => {
              session.once('connect', () => resolve());
              session.once('error', reject);
            });
            expect(session.alpnProtocol).toBe('h2');
            const request = session.request({ ':path': `${BASE}/stream/h2/node` });
            const head = await new Promise<Record<string, unknown>>((resolve) =>
              request.once('response', resolve),
            );
            expect(head[':status']).toBe(200);
            expect(head['content-type']).toMatch(/^text\/event-stream/);
            request.close();
          } finally {
            session.destroy();
          }
          // Twelve tabs of one browser profile: over HTTP/1.1 only six could connect.
          const context = await (await launchChromium()).newContext();
          try {
            const tabs = await Promise.all(
              Array.from({ length: 12 }, async (_, i) => {
                const page = await context.newPage();
                await page.goto(`${server.running.origin}/`);
                await page.evaluate((url) => {
                  const state = { connected: false, events: [] as string[] };
                  (window as unknown as { sse: typeof state }).sse = state;
                  const source = new EventSource(url);
                  source.addEventListener('connected', () => (state.connected = true));
                  source.addEventListener('tab', (event) => state.events.push(event.data));
                }, `${server.url}/stream/tabs/t${i}`);
                return page;
              }),
            );
            const read = () =>
              Promise.all(
                tabs.map((page) =>
                  page.evaluate(
                    () =>
                      (window as unknown as { sse: { connected: boolean; events: string[] } }).sse,
                  ),
                ),
              );
            await waitFor(
              async () => (await read()).every((tab) => tab.connected),
              'all 12 tabs to be connected',
              20_000,
            );
            expect((await server.info()).groups.tabs).toBe(12);
            expect(await server.send({ group: 'tabs', event: 'tab', data: 'to all' })).toBe(12);
            await waitFor(
              async () => (await read()).every((tab) => tab.events.includes('to all')),
              'the broadcast in every tab',
              20_000,
            );
            // The page and its streams went over HTTP/2.
            const protocol = await tabs[0]!.evaluate(
              () =>
                (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming)
                  .nextHopProtocol,
            );
            expect(protocol).toBe('h2');
          } finally {
            await context.close();
          }
        },
        60_000,
      );
    });

    // The heartbeat comes at 3/4 of SSE_HEARTBEAT_MS of silence: here half the proxy's timeout.
    const heartbeatMs = Math.round(((readTimeoutMs ?? 4000) * 2) / 3);
    group(
      'proxy timeout',
      ['proxy-timeout'],
      { SSE_HEARTBEAT_MS: String(heartbeatMs), PROXY_READ_TIMEOUT_MS: String(readTimeoutMs) },
      (server) => {
        check(
          'proxy-timeout',
          "the heartbeat holds a stream across the proxy's read timeout",
          async () => {
            const stream = await server.stream('/stream/proxied/a');
            try {
              await stream.next(isConnected, 'connected');
              const since = Date.now();
              const holdMs = (readTimeoutMs ?? 0) * 2.5;
              await waitFor(
                () => stream.ended || Date.now() - since >= holdMs,
                `${holdMs} ms on heartbeats`,
                holdMs + 10_000,
              );
              expect(stream.ended).toBe(false);
              expect(stream.comments.length).toBeGreaterThanOrEqual(3);
              expect(await server.send({ group: 'proxied', event: 'late', data: 'still' })).toBe(1);
              await stream.next((e) => e.event === 'late', 'an event after the timeout');
            } finally {
              stream.close();
            }
          },
          (readTimeoutMs ?? 0) * 2.5 + 20_000,
        );
      },
    );

    describe.skipIf(skipped.has('quiet-stream'))('quiet stream', () => {
      beforeEach(() => {
        current = quiet.server;
      });
      check(
        'quiet-stream',
        `a stream silent for ${QUIET_MS / 1000} s stays open and still delivers`,
        async () => {
          const stream = quiet.stream!;
          await waitFor(
            () => stream.ended || Date.now() - quiet.since >= QUIET_MS,
            `${QUIET_MS} ms of silence`,
            QUIET_MS + 10_000,
          );
          expect(stream.ended).toBe(false);
          // Silent indeed: nothing after the connected event, not even a heartbeat.
          expect(stream.events.length).toBe(1);
          expect(stream.comments).toEqual([]);
          expect(await quiet.server.send({ group: 'quiet', event: 'wake', data: 'up' })).toBe(1);
          await stream.next((e) => e.event === 'wake', 'an event after the silence');
        },
        QUIET_MS + 20_000,
      );
    });
  });
}
