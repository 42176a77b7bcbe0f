/**
 * The demo server over HTTP, as its own process: the page and the client build are served, and
 * with SSE_SECRET and SSE_PUBLISH_KEY streams need a token while the publisher key stays on the
 * server. SIGTERM ends the streams and the process.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DemoProcess, startDemo } from './test-support.js';

const SECRET = 'demo-test-secret';
const KEY = 'demo-test-publisher-key';

/** Reads a stream until `until` appears in it (or the timeout), then cancels it. */
async function readStream(
  url: string,
  until: string,
  timeoutMs = 5_000,
  headers: Record<string, string> = {},
): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let text = '';
  try {
    const response = await fetch(url, { signal: controller.signal, headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes(until)) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return text;
}

/** The ids online in a group, from the hub's presence route through the demo's admin proxy. */
async function online(url: string, group: string): Promise<string[]> {
  const answer = await (await fetch(`${url}/demo/admin/presence/${group}`)).json();
  return answer.data.clients.map((client: { id: string }) => client.id);
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('the demo server, open (no SSE_* variables)', () => {
  let demo: DemoProcess;
  beforeAll(async () => {
    demo = await startDemo();
  });
  afterAll(async () => {
    await demo?.stop();
  });

  test('prints its URL and serves the page, its script and the client build', async () => {
    expect(demo.output()).toMatch(/^ssehub demo: http:\/\/127\.0\.0\.1:\d+$/m);
    const page = await (await fetch(`${demo.url}/`)).text();
    expect(page).toContain('"@ssehub/client": "/lib/client/index.js"');
    for (const path of ['/app.js', '/style.css', '/lib/client/index.js']) {
      const response = await fetch(`${demo.url}${path}`);
      expect(response.status, path).toBe(200);
    }
    const client = await (await fetch(`${demo.url}/lib/client/index.js`)).text();
    expect(client).toContain('SSEClient');
    expect((await fetch(`${demo.url}/../package.json`)).status).toBe(404);
    expect((await fetch(`${demo.url}/%2e%2e/src/demo.ts`)).status).toBe(404);
  });

  test('the config says no token is required; the admin routes use a key the demo made', async () => {
    const config = await (await fetch(`${demo.url}/demo/config`)).json();
    expect(config).toEqual({ base: '/api/v1/sse', tokenRequired: false, publisherKey: true });
    expect((await post(`${demo.url}/demo/token`, { group: 'g', id: 'a' })).status).toBe(404);
    // The reference admin routes are not open: only the demo's proxy knows the key.
    const body = { event: 'system', data: { message: 'hello' } };
    expect((await post(`${demo.url}/api/v1/sse/publish`, body)).status).toBe(401);
    expect((await fetch(`${demo.url}/api/v1/sse/info`)).status).toBe(401);
    expect(
      (await post(`${demo.url}/api/v1/sse/publish`, body, { authorization: 'Bearer guess' }))
        .status,
    ).toBe(403);
    const published = await post(`${demo.url}/demo/admin/publish`, body);
    expect(await published.json()).toMatchObject({ code: 200 });
    expect((await fetch(`${demo.url}/demo/admin/info`)).status).toBe(200);
  });

  test('the event catalog: a demo event with the wrong shape gets 400, other names pass', async () => {
    const wrong = await post(`${demo.url}/demo/admin/publish`, {
      event: 'task_progress',
      data: { taskId: 't', percent: 'half', step: 's', done: false },
    });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({
      code: 400,
      event: 'task_progress',
      issues: [{ path: 'percent' }],
    });
    const missing = await post(`${demo.url}/demo/admin/publish`, {
      event: 'notification',
      data: { content: 'no title' },
    });
    expect(missing.status).toBe(400);
    const other = await post(`${demo.url}/demo/admin/publish`, { event: 'anything', data: 42 });
    expect(other.status).toBe(200);
    const doc = await (await fetch(`${demo.url}/demo/admin/asyncapi.json`)).json();
    expect(doc.asyncapi).toBe('3.0.0');
    expect(Object.keys(doc.components.messages)).toContain('task_progress');
  });

  test('a task sends task_progress from 0 to 100 % to its user', async () => {
    const stream = readStream(`${demo.url}/api/v1/sse/stream/tasks/runner`, '"percent":100');
    // The stream is open once the presence list shows it.
    await expect.poll(() => online(demo.url, 'tasks')).toEqual(['runner']);
    const started = await post(`${demo.url}/demo/task`, { group: 'tasks', id: 'runner' });
    expect(started.status).toBe(202);
    const text = await stream;
    const percents = [...text.matchAll(/"percent":(\d+)/g)].map((m) => Number(m[1]));
    expect(percents[0]).toBe(0);
    expect(percents.at(-1)).toBe(100);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect((await post(`${demo.url}/demo/task`, { group: 'bad group', id: 'x' })).status).toBe(400);
  });
});

describe('the demo server with SSE_SECRET and SSE_PUBLISH_KEY', () => {
  let demo: DemoProcess;
  beforeAll(async () => {
    demo = await startDemo({ SSE_SECRET: SECRET, SSE_PUBLISH_KEY: KEY });
  });

  test('streams need a token, which the demo-only token route signs', async () => {
    const config = await (await fetch(`${demo.url}/demo/config`)).json();
    expect(config).toMatchObject({ tokenRequired: true, publisherKey: true });
    expect(JSON.stringify(config)).not.toContain(KEY);
    const page = await (await fetch(`${demo.url}/app.js`)).text();
    expect(page).not.toContain(KEY);

    const bare = await fetch(`${demo.url}/api/v1/sse/stream/challenge_1/alice`);
    expect(bare.status).toBe(401);
    await bare.body?.cancel();

    const { token } = await (
      await post(`${demo.url}/demo/token`, { group: 'challenge_1', id: 'alice' })
    ).json();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const text = await readStream(
      `${demo.url}/api/v1/sse/stream/challenge_1/alice?token=${token}`,
      'event: live',
    );
    expect(text).toContain('event: connected');
    // The token is for alice in challenge_1 only.
    const other = await fetch(`${demo.url}/api/v1/sse/stream/challenge_2/alice?token=${token}`);
    expect(other.status).toBe(403);
    await other.body?.cancel();
  });

  test('admin routes need the key; the demo proxy adds it server-side', async () => {
    const body = { event: 'system', data: { message: 'hello' } };
    expect((await post(`${demo.url}/api/v1/sse/publish`, body)).status).toBe(401);
    expect((await fetch(`${demo.url}/api/v1/sse/info`)).status).toBe(401);
    const published = await post(`${demo.url}/demo/admin/publish`, body);
    expect(published.status).toBe(200);
    expect(await published.json()).toEqual({ code: 200, data: { delivered: 0 } });
    const info = await fetch(`${demo.url}/demo/admin/info`);
    expect(info.status).toBe(200);
    expect((await info.json()).data.counters.eventsSent).toBeGreaterThanOrEqual(1);
    const kicked = await fetch(`${demo.url}/demo/admin/disconnect/challenge_1/nobody`, {
      method: 'POST',
    });
    expect(await kicked.json()).toEqual({ code: 200, data: { disconnected: 0 } });
    // Only those three are proxied.
    expect((await fetch(`${demo.url}/demo/admin/metrics`)).status).toBe(404);
  });

  test('SIGTERM ends open streams and the process exits 0', async () => {
    const { token } = await (await post(`${demo.url}/demo/token`, { group: 'g', id: 'z' })).json();
    const response = await fetch(`${demo.url}/api/v1/sse/stream/g/z?token=${token}`);
    const ended = (async () => {
      for await (const _ of response.body as unknown as AsyncIterable<Uint8Array>);
      return 'ended';
    })();
    await expect.poll(() => online(demo.url, 'g')).toEqual(['z']);
    const started = Date.now();
    expect(await demo.stop()).toBe(0);
    await expect(ended).resolves.toBe('ended');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('the demo server at SIGTERM', () => {
  test('a client that is behind still gets everything published before, then a clean end', async () => {
    const demo = await startDemo({
      SSE_MAX_QUEUED_EVENTS: '100000',
      SSE_MAX_QUEUED_BYTES: String(64 * 1024 * 1024),
    });
    const { port } = new URL(demo.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`GET /api/v1/sse/stream/team/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      raw += chunk;
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    await expect.poll(() => raw).toContain('event: live');
    // The client stops reading: several MiB wait for it in the hub's queue and the socket.
    socket.pause();
    const events = 300;
    const pad = 'p'.repeat(32 * 1024);
    for (let k = 0; k < events; k++) {
      const response = await post(`${demo.url}/demo/admin/publish`, {
        group: 'team',
        event: 'burst',
        data: `${k} ${pad}`,
      });
      expect(response.status).toBe(200);
    }
    const exited = demo.stop();
    // Longer than a plain server.close() + closeAllConnections() grace of 1 s.
    await new Promise((done) => setTimeout(done, 1_500));
    socket.resume();
    expect(await exited).toBe(0);
    await closed;
    const received = [...raw.matchAll(/event: burst\nid: [^\n]*\ndata: (\d+) /g)].map((m) =>
      Number(m[1]),
    );
    expect(received.length).toBe(events);
    expect(received).toEqual(received.map((_, k) => k));
    // The chunked terminator: the stream ended cleanly, so a browser reconnects.
    expect(raw.endsWith('0\r\n\r\n')).toBe(true);
  });
});

function redisServer(): string | undefined {
  try {
    return (
      execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

const REDIS_SERVER = redisServer();
const PUBLISH_KEY = 'demo-test-publish-key';

describe.skipIf(REDIS_SERVER === undefined)('two demo processes with REDIS_URL', () => {
  let redis: ChildProcess;
  let a: DemoProcess;
  let b: DemoProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    redis = spawn(
      REDIS_SERVER!,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    env = {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      SSE_REDIS_PREFIX: `demo-test-${port}`,
      SSE_PUBLISH_KEY: PUBLISH_KEY,
      SSE_PRESENCE_GRACE_MS: '300',
    };
    // startDemo waits for the printed URL, which comes once the backplane is ready.
    for (let tries = 0; tries < 100; tries++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      if (up) break;
      await new Promise((done) => setTimeout(done, 50));
    }
    [a, b] = await Promise.all([startDemo(env), startDemo(env)]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    redis?.kill();
  });

  test('a send, a kick and a replay cross processes', async () => {
    const stream = `${a.url}/api/v1/sse/stream/challenge_5/ann`;
    const reached = readStream(stream, 'cross-node');
    await expect.poll(() => online(a.url, 'challenge_5')).toEqual(['ann']);
    const send = (content: string) =>
      post(`${b.url}/demo/admin/publish`, {
        group: 'challenge_5',
        id: 'ann',
        event: 'notification',
        data: { title: 'From b', content },
      });
    expect((await send('cross-node')).status).toBe(200);
    expect(await reached).toContain('cross-node');

    // Kicked through b, from a. The first stream must be gone first: a client that comes online
    // again (after the grace period of its last stream: SSE_PRESENCE_GRACE_MS) gets the group's
    // `join`, an event with an id to resume from below; a second tab of a client still online
    // gets nothing with an id.
    await expect.poll(() => online(a.url, 'challenge_5'), { timeout: 10_000 }).toEqual([]);
    const kicked = readStream(stream, 'never sent', 10_000);
    await expect
      .poll(async () => (await (await fetch(`${a.url}/demo/admin/info`)).json()).data.clientCount)
      .toBe(1);
    await post(`${b.url}/demo/admin/disconnect/challenge_5/ann`, {});
    const before = await kicked;
    const lastId = [...before.matchAll(/^id: (.+)$/gm)].at(-1)?.[1];
    expect(lastId).toBeDefined();

    // Sent while away; replayed on b from the shared history, before the live marker.
    expect((await send('while-away')).status).toBe(200);
    const after = await readStream(
      `${b.url}/api/v1/sse/stream/challenge_5/ann`,
      'event: live',
      5_000,
      {
        'last-event-id': lastId!,
      },
    );
    expect(after).toContain('while-away');
    expect(after.indexOf('while-away')).toBeLessThan(after.indexOf('event: live'));
  });

  test("the broker's state and the Redis figures are on /info and /metrics", async () => {
    const info = await (await fetch(`${a.url}/demo/admin/info`)).json();
    expect(info.data.broker).toMatchObject({ state: 'up', refused: 0 });
    const metrics = await (
      await fetch(`${b.url}/api/v1/sse/metrics`, {
        headers: { authorization: `Bearer ${PUBLISH_KEY}` },
      })
    ).text();
    expect(metrics).toContain('ssehub_broker_up 1\n');
    expect(metrics).toContain('ssehub_broker_refused_total 0\n');
    expect(metrics).toContain('ssehub_redis_connected 1\n');
    expect(metrics).toContain('ssehub_redis_subscribed 1\n');
  });

  test('--workers 2: one port, two hubs, every client reached once whichever worker it is on', async () => {
    const workers = await startDemo({
      ...env,
      SSE_REDIS_PREFIX: `${env.SSE_REDIS_PREFIX}-w`,
      DEMO_WORKERS: '2',
    });
    try {
      await expect
        .poll(() => workers.output().match(/ssehub demo: http\S+ .*worker \d/g)?.length ?? 0, {
          timeout: 15_000,
        })
        .toBe(2);
      // Connections are spread over the workers (node:cluster hands them out round-robin).
      const ids = ['w1', 'w2', 'w3', 'w4'];
      const streams = ids.map((id) =>
        openText(`${workers.url}/api/v1/sse/stream/challenge_9/${id}`),
      );
      for (const stream of streams) await stream.until('event: connected');
      const sent = await post(`${workers.url}/demo/admin/publish`, {
        group: 'challenge_9',
        event: 'notification',
        data: { title: 'Workers', content: 'from-any-worker' },
      });
      expect(sent.status).toBe(200);
      for (const stream of streams) {
        const text = await stream.until('from-any-worker');
        expect(text.split('from-any-worker')).toHaveLength(2);
      }
      for (const stream of streams) stream.close();
      expect(await workers.stop()).toBe(0);
    } finally {
      await workers.stop();
    }
  });
});

/** A stream read as text, for waiting on what arrives. */
function openText(url: string) {
  const abort = new AbortController();
  let text = '';
  const waiting: { needle: string; resolve: (text: string) => void }[] = [];
  void (async () => {
    const response = await fetch(url, { signal: abort.signal });
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      for (const w of waiting.splice(0)) {
        if (text.includes(w.needle)) w.resolve(text);
        else waiting.push(w);
      }
    }
  })().catch(() => {});
  return {
    until: (needle: string) =>
      new Promise<string>((resolve, reject) => {
        if (text.includes(needle)) return resolve(text);
        waiting.push({ needle, resolve });
        setTimeout(() => reject(new Error(`${needle} did not arrive: ${text}`)), 10_000).unref();
      }),
    close: () => abort.abort(),
  };
}
