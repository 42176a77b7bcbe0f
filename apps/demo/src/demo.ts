/**
 * The demo server: one `Hub<DemoEvents>`, the reference routes through the node:http adapter,
 * and a few demo routes that play the scenarios of the README (notifications, tasks, challenges, presence).
 *
 * | route | does |
 * | --- | --- |
 * | `{base}/*` (default `/api/v1/sse`) | the reference routes: stream, publish, disconnect, info, metrics, presence |
 * | `GET /demo/config` | what the page needs to know (base, whether tokens and a publisher key are on) |
 * | `POST /demo/token {group, id}` | signs a stream token when `SSE_SECRET` is set (demo only!) |
 * | `POST /demo/task {group, id}` | a simulated task that sends `task_progress` 0 → 100 % to that user |
 * | `/demo/admin/{publish, info, presence/:group, asyncapi.json, disconnect/:group/:id}` | the admin routes, with the publisher key added server-side |
 * | `GET /`, `/app.js`, ... and `/lib/client/*` | the page, and `@ssehub/client`'s ESM build |
 *
 * The admin routes need a publisher key: `SSE_PUBLISH_KEY`, or else a random one the demo makes at
 * start and keeps on the server (the page never sees it; `{base}/publish` without it is refused).
 * The admin proxy makes publishing open to anyone who can load the page: right for a demo on
 * localhost, wrong for anything else.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConnectionInfo,
  configFromEnv,
  type Env,
  Hub,
  signJwt,
  typedEvent,
} from '@ssehub/core';
import {
  closeIdleConnections,
  type NodeRequest,
  type NodeResponse,
  sseHandler,
} from '@ssehub/node';
import { backplaneFromEnv } from '@ssehub/redis';
import { type DemoConfig, type DemoEvents, demoEvents, type Standing } from './events.js';

export interface DemoOptions {
  /** `SSE_*` variables (see core's `configFromEnv`). Default: none. */
  readonly env?: Env;
  /** How often each challenge group gets a round (default 2 000 ms). */
  readonly challengeIntervalMs?: number;
  /** Time between two `task_progress` events (default 150 ms: 20 steps, 3 s). */
  readonly taskStepMs?: number;
  /**
   * Which challenge groups this process plays rounds for: `local` (default) the groups of its own
   * clients; `cluster` every group of the Redis backplane (one process of several, `--workers`);
   * `none` (the other workers).
   */
  readonly challenges?: 'local' | 'cluster' | 'none';
  /**
   * A certificate and its key (PEM): the demo serves HTTPS with HTTP/2, and HTTP/1.1 for clients
   * without it (`allowHTTP1`). Default: plain HTTP/1.1.
   */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

export interface Demo {
  readonly hub: Hub<DemoEvents>;
  readonly server: Server | Http2SecureServer;
  /** Resolves once the hub can take sends (at once in memory; with REDIS_URL, once linked). */
  readonly ready: Promise<void>;
  /** Stops the simulators, ends every stream (browsers reconnect elsewhere) and the server. */
  close(): Promise<void>;
}

/** Group and id as the hub's default name pattern allows them. */
const NAME = /^[A-Za-z0-9_.:@~-]{1,128}$/;
const CHALLENGE = /^challenge_/;
const BOTS = ['bot-ada', 'bot-grace', 'bot-linus'];
const TASK_STEPS = 20;
const here = dirname(fileURLToPath(import.meta.url));
/** The page: `public/` beside `src/` and `dist/`. */
const PUBLIC_DIR = resolve(here, '..', 'public');
/** `@ssehub/client`'s build, served to the page as `/lib/client/index.js`. */
const CLIENT_DIR = join(
  dirname(createRequire(import.meta.url).resolve('@ssehub/client/package.json')),
  'dist',
);
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

/** Creates the demo (not listening yet: call `demo.server.listen`). */
export function createDemo(options: DemoOptions = {}): Demo {
  const env = options.env ?? {};
  const config = configFromEnv(env);
  const base = (config.handler.base ?? '/api/v1/sse').replace(/\/+$/, '');
  const secret = config.handler.jwtSecret;
  // The reference admin routes are closed without a key: with none configured, the demo makes one
  // that only its own admin proxy knows.
  const publisherKey = config.handler.publisherKey ?? randomBytes(32).toString('base64url');
  const taskStepMs = options.taskStepMs ?? 150;

  const report = (error: unknown, context: string) =>
    console.error(`ssehub demo: ${context}:`, error instanceof Error ? error.message : error);

  // REDIS_URL joins this process to a cluster of hubs (sends, kicks and replay reach clients on
  // any process); without it the hub is in memory.
  const backplane = backplaneFromEnv(env);

  /**
   * Tells the page where the replay ends: a `live` event written to this connection only (kept out
   * of the history, no id). The hub writes it after what it replays, however late a shared history
   * answers, and before the live events it held back meanwhile.
   */
  const markLive = (connection: ConnectionInfo) => {
    hub.sendToConnection(connection, typedEvent('live', { connectionId: connection.connectionId }));
  };

  const hub: Hub<DemoEvents> = new Hub({
    ...config.hub,
    events: demoEvents,
    ...backplane?.hubOptions,
    // Who is online: the hub's presence, `join` and `leave` in every group unless
    // SSE_PRESENCE_EVENTS says which (cluster-wide with REDIS_URL).
    presence: { ...config.hub.presence, events: config.hub.presence?.events ?? (() => true) },
    onConnect(connection) {
      markLive(connection);
      const { group, id } = connection;
      // The process that plays the rounds keeps the scores; others leave it to the next round.
      if (
        hub.connectionsOf({ group, id }) === 1 &&
        CHALLENGE.test(group) &&
        options.challenges !== 'none'
      )
        sendStandings(group);
    },
    onError: report,
  });
  const sse = sseHandler(hub, { ...config.handler, publisherKey });
  backplane?.report(hub);
  const ready = backplane ? backplane.ready() : Promise.resolve();

  // ---------------------------------------------------------------- challenge simulator

  interface Challenge {
    round: number;
    solves: number;
    readonly scores: Map<string, number>;
  }
  const challenges = new Map<string, Challenge>();

  const challengeOf = (group: string): Challenge => {
    let challenge = challenges.get(group);
    if (challenge === undefined) {
      challenge = { round: 0, solves: 0, scores: new Map(BOTS.map((bot) => [bot, 0])) };
      challenges.set(group, challenge);
    }
    for (const id of hub.groupClients(group))
      if (!challenge.scores.has(id)) challenge.scores.set(id, 0);
    return challenge;
  };

  const standings = (group: string, challenge: Challenge): Standing[] => {
    const online = new Set(hub.groupClients(group));
    return [...challenge.scores]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([id, score], index) => ({
        id,
        score,
        rank: index + 1,
        online: online.has(id) || BOTS.includes(id),
        bot: BOTS.includes(id),
      }));
  };

  function sendStandings(group: string): void {
    const ranking = standings(group, challengeOf(group));
    hub
      .sendGroup(group, typedEvent('rank_update', { challenge: group, ranking }))
      .catch((error) => report(error, 'rank_update'));
  }

  const playRound = (group: string) => {
    const challenge = challengeOf(group);
    const players = [...challenge.scores.keys()];
    const solver = players[Math.floor(Math.random() * players.length)]!;
    const points = 10 * (1 + Math.floor(Math.random() * 5));
    challenge.scores.set(solver, (challenge.scores.get(solver) ?? 0) + points);
    challenge.round++;
    challenge.solves++;
    hub
      .sendGroup(
        group,
        typedEvent('challenge_update', {
          challenge: group,
          round: challenge.round,
          solver,
          points,
          solves: challenge.solves,
          message: `${solver} solved problem #${challenge.solves} for ${points} points`,
        }),
      )
      .catch((error) => report(error, 'challenge_update'));
    sendStandings(group);
  };

  const challengeMode = options.challenges ?? 'local';
  const challengeGroups = async (): Promise<string[]> => {
    if (challengeMode === 'none') return [];
    const groups =
      challengeMode === 'cluster' && backplane
        ? (await backplane.info()).totals.groups
        : hub.info().groups;
    return Object.keys(groups).filter((group) => CHALLENGE.test(group));
  };
  const challengeTimer = setInterval(() => {
    challengeGroups().then(
      (groups) => {
        for (const group of groups) playRound(group);
      },
      (error) => report(error, 'challenge groups'),
    );
  }, options.challengeIntervalMs ?? 2_000);
  challengeTimer.unref();

  // ---------------------------------------------------------------- task simulator

  const tasks = new Set<ReturnType<typeof setInterval>>();
  let taskSeq = 0;

  const startTask = ({ group, id }: { group: string; id: string }): string => {
    const taskId = `task-${++taskSeq}`;
    let step = 0;
    const progress = () => {
      const percent = Math.round((step / TASK_STEPS) * 100);
      const label =
        percent >= 100
          ? 'Done'
          : ['Uploading', 'Scanning', 'Transcoding', 'Publishing'][Math.floor(percent / 25)]!;
      hub
        .send(
          { group, id },
          typedEvent('task_progress', { taskId, percent, step: label, done: percent >= 100 }),
        )
        .catch((error) => report(error, 'task_progress'));
    };
    progress();
    const timer = setInterval(() => {
      step++;
      progress();
      if (step >= TASK_STEPS) {
        clearInterval(timer);
        tasks.delete(timer);
      }
    }, taskStepMs);
    tasks.add(timer);
    return taskId;
  };

  // ---------------------------------------------------------------- routes

  const demoRoute = async (req: NodeRequest, res: NodeResponse, url: URL) => {
    const path = url.pathname;
    const method = req.method ?? 'GET';

    const admin =
      /^\/demo\/admin(\/(?:publish|info|presence\/[^/]+|asyncapi\.json|disconnect\/[^/]+\/[^/]+))$/.exec(
        path,
      );
    if (admin) {
      // Into the reference route, with the publisher key the browser never sees.
      req.url = `${base}${admin[1]}${url.search}`;
      req.headers.authorization = `Bearer ${publisherKey}`;
      sse(req, res);
      return;
    }

    if (path === '/demo/config' && method === 'GET') {
      const body: DemoConfig = {
        base,
        tokenRequired: secret !== undefined,
        publisherKey: true,
      };
      return json(res, 200, body);
    }

    if ((path === '/demo/token' || path === '/demo/task') && method === 'POST') {
      const body = await readJson(req);
      const group = typeof body?.group === 'string' ? body.group : '';
      const id = typeof body?.id === 'string' ? body.id : '';
      if (!NAME.test(group) || !NAME.test(id)) {
        return json(res, 400, { error: 'Send {"group": ..., "id": ...} with valid names.' });
      }
      if (path === '/demo/task') return json(res, 202, { taskId: startTask({ group, id }) });
      if (secret === undefined) return json(res, 404, { error: 'SSE_SECRET is not set.' });
      // Demo only: a real app signs tokens for users it has authenticated.
      const token = await signJwt({ sub: id, groups: [group] }, secret, { expiresIn: 3600 });
      return json(res, 200, { token, expiresIn: 3600 });
    }

    return json(res, 404, { error: `No route ${method} ${path}.` });
  };

  /**
   * Responses in progress (streams above all) and their sockets, so that shutdown can wait for
   * them to flush. (A response lets go of its socket once finished, so keep it here.)
   */
  const responses = new Map<NodeResponse, Socket>();
  /** HTTP/2 sessions (one per browser connection), destroyed once the streams have flushed. */
  const sessions = new Set<Http2Session>();
  let closing: Promise<void> | undefined;

  // Slowloris: the request head within 10 s, the whole request within 30 s (408 otherwise); streams
  // are not cut by these (see the root README's "Server timeouts").
  const timeouts = {
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    connectionsCheckingInterval: 2_000,
  };
  const listener = (req: NodeRequest, res: NodeResponse) => {
    // HTTP/2 (TLS): the socket is the session's, shared by every stream of the browser.
    const http2 = req.httpVersionMajor === 2;
    if (closing !== undefined) {
      // Shutting down: no new streams (the hub is closed) and nothing else either.
      if (!http2) res.setHeader('connection', 'close');
      return json(res, 503, { error: 'The demo is shutting down.' });
    }
    const socket = req.socket;
    responses.set(res, socket);
    res.once('close', () => {
      responses.delete(res);
      // During shutdown a finished response leaves nothing on its connection: end it now.
      if (closing !== undefined && !http2) socket.end();
    });
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/demo/')) {
      demoRoute(req, res, url).catch((error) => {
        report(error, url.pathname);
        if (!res.headersSent) json(res, 500, { error: 'The demo route failed.' });
      });
      return;
    }
    sse(req, res, () => {
      serveStatic(req, res, url.pathname).catch((error) => {
        report(error, url.pathname);
        if (!res.headersSent) json(res, 500, { error: 'Could not read the file.' });
      });
    });
  };
  const server = options.tls
    ? closeIdleConnections(
        createSecureServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            allowHTTP1: true,
            // One socket carries every tab's stream: no Nagle delay on small events.
            noDelay: true,
            // Slowloris over TLS (headersTimeout and requestTimeout do not apply): the handshake
            // within 10 s, and a connection without an open stream that stays silent for 10 s
            // is closed (closeIdleConnections; see the root README's "Server timeouts").
            handshakeTimeout: 10_000,
          } as Parameters<typeof createSecureServer>[0],
          listener,
        ),
        { timeoutMs: 10_000 },
      )
    : createServer(timeouts, listener);
  if (options.tls) {
    server.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
  }

  return {
    hub,
    server,
    ready,
    close() {
      closing ??= (async () => {
        clearInterval(challengeTimer);
        for (const timer of tasks) clearInterval(timer);
        tasks.clear();
        // Ends every stream after writing what was queued for it into its response.
        await hub.close();
        // Those bytes may still sit in a socket whose client reads slowly, and server.close()
        // destroys "idle" connections at once, ended responses included. So first let each
        // response reach the OS ('finish') and end its socket gracefully (end() flushes before
        // FIN), within a deadline; only then close the server.
        const flushed = [...responses].map(
          ([res, socket]) =>
            new Promise<void>((done) => {
              const finish = () => {
                if (res instanceof ServerResponse) socket.end();
                done();
              };
              if (res.writableFinished || res.destroyed) return finish();
              res.once('finish', finish);
              res.once('close', finish);
            }),
        );
        let deadline: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(flushed),
          new Promise((done) => (deadline = setTimeout(done, 5_000))),
        ]);
        clearTimeout(deadline);
        await new Promise<void>((done) => {
          if (!server.listening) return done();
          server.close(() => done());
          setTimeout(() => {
            if ('closeAllConnections' in server) server.closeAllConnections();
            for (const session of sessions) session.destroy();
          }, 1_000).unref();
        });
      })();
      return closing;
    },
  };
}

// ---------------------------------------------------------------- helpers

function json(res: NodeResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function readJson(req: NodeRequest): Promise<Record<string, unknown> | undefined> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 4096) return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object'
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

async function serveStatic(req: NodeRequest, res: NodeResponse, path: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return json(res, 405, { error: 'Use GET.' });
  }
  let root = PUBLIC_DIR;
  let relative = path === '/' ? '/index.html' : path;
  if (relative.startsWith('/lib/client/')) {
    root = CLIENT_DIR;
    relative = relative.slice('/lib/client'.length);
  }
  let file: string;
  try {
    file = resolve(root, `.${decodeURIComponent(relative)}`);
  } catch {
    return json(res, 400, { error: 'Bad path.' });
  }
  const type = CONTENT_TYPES[extname(file)];
  if (!file.startsWith(root + sep) || type === undefined) {
    return json(res, 404, { error: `No file ${path}.` });
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    const hint = root === CLIENT_DIR ? ' (build @ssehub/client first)' : '';
    return json(res, 404, { error: `No file ${path}${hint}.` });
  }
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.byteLength,
    'cache-control': 'no-cache',
  });
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}
