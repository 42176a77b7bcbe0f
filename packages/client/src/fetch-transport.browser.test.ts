/// <reference types="node" />
/**
 * The fetch transport in real Chromium, shared by two tabs (pages of one browser context),
 * against a real ssehub server (node adapter, `jwtSecret`): the token travels as
 * `Authorization: Bearer`, never in a URL; both tabs receive the stream over one connection; when
 * the leader's tab closes during a stream of an event every 100 ms, the other tab takes over with
 * `Last-Event-ID` and receives every event exactly once, in order.
 *
 * The page loads the built client (`dist/index.js`), which turbo's `test` task builds first (see
 * turbo.json); by hand, run `pnpm --filter @ssehub/client build` before.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, ensureChromium } from '@ssehub/conformance/chromium';
import { Hub, signJwt } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const SECRET = 'fetch-browser-secret';
const EVENTS = 30;
const CLOSE_AFTER = 10;
const BUILT = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>fetch transport</title>
<script type="module">
  import { createClient, streamUrl } from '/client.js';
  const state = (window.state = { ticks: [], statuses: [], errors: [] });
  const client = (window.client = createClient(streamUrl('/api/v1/sse', { group: 'room', id: 'u' }), {
    transport: 'fetch',
    shared: true,
    getToken: async () => (await fetch('/token')).text(),
    onError: (error) => state.errors.push(String(error)),
  }));
  client.on('tick', (data, meta) => state.ticks.push({ seq: data.seq, id: meta.id }));
  client.onStatus((status) => state.statuses.push(status));
</script>`;

interface PageState {
  ticks: { seq: number; id: string }[];
  statuses: string[];
  errors: string[];
}

interface StreamRequest {
  url: string;
  authorization: string | undefined;
  lastEventId: string | undefined;
}

const executablePath = ensureChromium();

describe.skipIf(executablePath === undefined)('the fetch transport in Chromium', () => {
  const hub = new Hub();
  const streams: StreamRequest[] = [];
  const urls: string[] = [];
  let server: Server;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: build @ssehub/client first.`);
    const handle = sseHandler(hub, { jwtSecret: SECRET });
    server = createServer((req, res) => {
      urls.push(req.url ?? '');
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (url.pathname === '/client.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(readFileSync(BUILT));
      } else if (url.pathname === '/token') {
        void signJwt({ sub: 'u', groups: ['room'] }, SECRET, { expiresIn: 600 }).then((token) =>
          res.writeHead(200, { 'content-type': 'text/plain' }).end(token),
        );
      } else {
        if (url.pathname.startsWith('/api/v1/sse/stream/')) {
          streams.push({
            url: req.url ?? '',
            authorization: req.headers.authorization,
            lastEventId: req.headers['last-event-id'] as string | undefined,
          });
        }
        handle(req, res);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await hub.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  test('Bearer token, one connection for two tabs, and a handover without loss', async () => {
    const context = await browser.newContext();
    const pages: Page[] = [];
    for (const _ of [0, 1]) {
      const page = await context.newPage();
      page.on('pageerror', (error) => console.error('page error:', error));
      await page.goto(origin);
      pages.push(page);
    }
    const read = (page: Page) =>
      page.evaluate(() => (window as unknown as { state: PageState }).state);
    const role = (page: Page) =>
      page.evaluate(() => (window as unknown as { client: { role: string } }).client.role);
    const waitUntil = async (check: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitUntil(
      async () => (await Promise.all(pages.map(read))).every((s) => s.statuses.at(-1) === 'open'),
      'both tabs open',
    );
    expect(hub.connectionsOf({ group: 'room', id: 'u' })).toBe(1);
    expect((await Promise.all(pages.map(role))).sort()).toEqual(['follower', 'leader']);
    const leader = pages[(await Promise.all(pages.map(role))).indexOf('leader')]!;
    const other = pages.find((page) => page !== leader)!;

    const started = Date.now();
    let closing: Promise<void> | undefined;
    for (let seq = 0; seq < EVENTS; seq++) {
      const due = started + seq * 100;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      await hub.sendGroup('room', { event: 'tick', data: { seq } });
      if (seq === CLOSE_AFTER - 1) closing = leader.close();
    }
    await closing;
    await waitUntil(async () => (await read(other)).ticks.length >= EVENTS, 'every tick');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const state = await read(other);
    expect(state.errors).toEqual([]);
    expect(state.ticks.map((t) => t.seq)).toEqual(Array.from({ length: EVENTS }, (_, i) => i));
    expect(new Set(state.ticks.map((t) => t.id)).size).toBe(EVENTS);
    expect(await role(other)).toBe('leader');
    expect(state.statuses).toEqual(['open', 'reconnecting', 'open']);
    expect(hub.connectionsOf({ group: 'room', id: 'u' })).toBe(1);

    // Two stream requests (one per leader), each with the token in the header, none in a URL.
    expect(streams).toHaveLength(2);
    for (const request of streams) {
      expect(request.url).toBe('/api/v1/sse/stream/room/u');
      expect(request.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    }
    expect(streams[0]!.lastEventId).toBeUndefined();
    // The new leader resumed from the last event it had when it took over.
    const resumedFrom = streams[1]!.lastEventId;
    expect(state.ticks.map((t) => t.id)).toContain(resumedFrom);
    expect(urls.filter((url) => /[?&]token=/.test(url))).toEqual([]);
    await context.close();
  }, 60_000);
});
