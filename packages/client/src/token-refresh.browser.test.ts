/// <reference types="node" />
/**
 * `getToken` in real Chromium against a real ssehub server (node adapter, `jwtSecret`): tokens
 * live 3 s (JWT `exp`, whole seconds: 2–3 s after issue), the server sends an event to the group
 * every 200 ms for 15 s, and each page client must receive every event exactly once, in order,
 * across all its token refreshes. Two clients: one refreshing ahead of `exp` (the default), one
 * only when the server ends its stream at `exp` (`refreshBeforeExpiry: false`). The server holds
 * every stream request for 450 ms, as a slow network would, so that each refresh leaves a gap of
 * two events or more that only the Last-Event-ID replay can fill.
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
import { type DisconnectReason, Hub, signJwt } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const SECRET = 'token-refresh-secret';
const TOKEN_SECONDS = 3;
const EVENTS = 75; // every 200 ms for 15 s
const STREAM_DELAY_MS = 450;
const CLIENTS = ['ahead', 'at-expiry'] as const;
const BUILT = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js');

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>getToken refresh</title>
<script type="module">
  import { createClient, streamUrl } from '/client.js';
  const state = (window.state = {});
  for (const [id, refreshBeforeExpiry] of [['ahead', true], ['at-expiry', false]]) {
    const s = (state[id] = { events: [], statuses: [], errors: [], resets: 0 });
    const client = createClient(streamUrl('/api/v1/sse', { group: 'room', id }), {
      refreshBeforeExpiry,
      getToken: async () => {
        const response = await fetch('/token?id=' + id);
        if (!response.ok) throw new Error('token endpoint answered ' + response.status);
        return response.text();
      },
      onError: (error) => s.errors.push(String(error)),
    });
    client.on('tick', (data, meta) => s.events.push({ seq: data.seq, id: meta.id }));
    client.onReset(() => s.resets++);
    client.onStatus((status) => s.statuses.push(status));
  }
</script>`;

interface PageState {
  events: { seq: number; id: string }[];
  statuses: string[];
  errors: string[];
  resets: number;
}

const executablePath = ensureChromium();

describe.skipIf(executablePath === undefined)('getToken refresh in Chromium', () => {
  const hub = new Hub({
    onDisconnect: (connection, reason) => disconnects[connection.id]?.push(reason),
  });
  const disconnects: Record<string, DisconnectReason[]> = { ahead: [], 'at-expiry': [] };
  const tokensIssued: Record<string, number> = { ahead: 0, 'at-expiry': 0 };
  let server: Server;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: build @ssehub/client first.`);
    const handle = sseHandler(hub, { jwtSecret: SECRET });
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (url.pathname === '/client.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(readFileSync(BUILT));
      } else if (url.pathname === '/token') {
        const id = url.searchParams.get('id') ?? '';
        if (!(id in tokensIssued)) {
          res.writeHead(404).end();
          return;
        }
        tokensIssued[id]!++;
        void signJwt({ sub: id, groups: ['room'] }, SECRET, { expiresIn: TOKEN_SECONDS }).then(
          (token) => res.writeHead(200, { 'content-type': 'text/plain' }).end(token),
        );
      } else if (url.pathname.startsWith('/api/v1/sse/stream/')) {
        setTimeout(() => handle(req, res), STREAM_DELAY_MS);
      } else handle(req, res);
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

  test('every event exactly once, in order, across the token refreshes', async () => {
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.error('page error:', error));
    await page.goto(origin);
    const waitUntil = async (check: () => boolean, what: string, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitUntil(
      () => CLIENTS.every((id) => hub.connectionsOf('room', id) === 1),
      'both page clients to connect',
      20_000,
    );

    // An in-process connection of the group records the id the hub gave each event.
    const sentIds: string[] = [];
    const decoder = new TextDecoder();
    hub.connect(
      {
        write: (chunk) => {
          for (const match of decoder.decode(chunk).matchAll(/^id: (.*)$/gm))
            sentIds.push(match[1]!);
          return true;
        },
        close: () => {},
      },
      { group: 'room', id: 'observer' },
    );

    const started = Date.now();
    for (let seq = 0; seq < EVENTS; seq++) {
      // On a schedule, not after each send: a busy machine does not stretch the run.
      const due = started + seq * 200;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      await hub.sendGroup('room', { event: 'tick', data: { seq } });
    }

    const read = () => page.evaluate(() => (window as unknown as { state: unknown }).state);
    let state = (await read()) as Record<string, PageState>;
    const deadline = Date.now() + 15_000;
    while (CLIENTS.some((id) => state[id]!.events.length < EVENTS) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = (await read()) as Record<string, PageState>;
    }
    // Late duplicates would arrive now.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    state = (await read()) as Record<string, PageState>;
    expect(sentIds).toHaveLength(EVENTS);

    for (const id of CLIENTS) {
      const { events, statuses, errors, resets } = state[id]!;
      const reasons = disconnects[id]!;
      console.log(
        `[${id}] events received: ${events.length}/${EVENTS}; token refreshes: ${tokensIssued[id]! - 1}; ` +
          `streams ended by the server at exp: ${reasons.filter((r) => r === 'expired').length}; ` +
          `closed by the client: ${reasons.filter((r) => r === 'client-closed').length}; ` +
          `statuses: ${statuses.join(' > ')}`,
      );
      expect(errors, `${id}: getToken errors`).toEqual([]);
      expect(resets, `${id}: reset events (lost events)`).toBe(0);
      expect(
        events.map((e) => e.seq),
        `${id}: every event once, in order`,
      ).toEqual(Array.from({ length: EVENTS }, (_, i) => i));
      expect(
        events.map((e) => e.id),
        `${id}: the ids the hub gave, once each, in order`,
      ).toEqual(sentIds);
      // 15 s of 2–3 s tokens: at least 4 refreshes, each a new stream.
      expect(tokensIssued[id]! - 1, `${id}: refreshes`).toBeGreaterThanOrEqual(4);
      expect(statuses.at(-1)).toBe('open');
      expect(statuses).not.toContain('closed');
    }
    // Every refresh left a gap that the replay filled.
    const { eventsReplayed } = hub.info().counters;
    const refreshes = CLIENTS.reduce((sum, id) => sum + tokensIssued[id]! - 1, 0);
    console.log(
      `events replayed after Last-Event-ID: ${eventsReplayed} over ${refreshes} refreshes`,
    );
    expect(eventsReplayed).toBeGreaterThanOrEqual(refreshes);
    // The client that waits for the server: its streams were ended at exp.
    expect(disconnects['at-expiry']!.filter((r) => r === 'expired').length).toBeGreaterThanOrEqual(
      4,
    );
    await page.close();
  }, 90_000);
});
