/**
 * Request handling shared by every adapter, written once over a minimal request shape.
 *
 * An adapter turns its request into a `HubRequest`, calls the handler, and either writes the
 * JSON/text response, or (for a stream) writes the headers and calls `connect(sink)` with a sink
 * over its response. Routes, under `base` (default `/api/v1/sse`):
 *
 * | route | does |
 * | --- | --- |
 * | `GET {base}/stream/:group/:id`, `GET {base}/stream?group=&id=` | the event stream |
 * | `POST {base}/disconnect/:group/:id` | closes that client's connections (they reconnect) |
 * | `GET {base}/info` | `{code: 200, data: <hub info>}` |
 * | `POST {base}/publish` | `{group?, id?, ids?, event?, data, eventId?, retry?}`: unicast, list, group or broadcast |
 * | `GET {base}/metrics` | Prometheus text |
 * | `GET {base}/presence/:group` | `{code: 200, data: {group, count, clients: [{id, connections, meta}]}}` |
 * | `GET {base}/asyncapi.json` | the hub's event catalog as an AsyncAPI 3.0 document |
 *
 * With a broker that is down (`SSEError` `broker_unavailable`), publish and disconnect answer 503
 * with `Retry-After`: nothing was delivered on any node, so the caller may retry.
 *
 * Publish, disconnect, info, metrics, presence and asyncapi.json are the admin routes. They are closed (403) until the app
 * says how they are protected: `publisherKey`, `authorizePublish`, or `unsafeOpenAdminRoutes`.
 */

import { asyncApiDocument, EventValidationError } from './catalog.js';
import type { Connection } from './connection.js';
import { MAX_EVENT_ID_LENGTH } from './encoding.js';
import { SSEError } from './errors.js';
import type { AnyEvents, EventMap, HubEvent } from './event.js';
import type { Hub } from './hub.js';
import { JwtError, type StreamClaims, verifyJwt } from './jwt.js';
import { formatMetrics } from './metrics.js';
import type { Sink } from './sink.js';

/** What the handler needs of a request. */
export interface HubRequest {
  readonly method: string;
  /** The path with its query (`/api/v1/sse/stream?group=a&id=b`) or an absolute URL. */
  readonly url: string;
  readonly headers: { get(name: string): string | null | undefined };
  /** `1.0`, `1.1`, `2.0`...; `Connection: keep-alive` is only sent on a known HTTP/1.x. */
  readonly httpVersion?: string | undefined;
  readonly remoteAddress?: string | undefined;
  /** The body as text. Rejects with `BodyTooLargeError` past `limit` bytes. */
  readBody(limit: number): Promise<string>;
}

/** Thrown by `readBody` when a body exceeds the limit. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/** A complete response. */
export interface PlainResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** An accepted stream: write `status` and `headers`, then call `connect` with a sink. */
export interface StreamResponse {
  readonly kind: 'stream';
  readonly status: 200;
  readonly headers: Record<string, string>;
  connect(sink: Sink): Connection;
}

/** Not one of the hub's routes (a middleware passes the request on). */
export interface PassResponse {
  readonly kind: 'pass';
}

export type HubResponse = PlainResponse | StreamResponse | PassResponse;

/** What `authorize` learns about a stream request. */
export interface AuthorizeContext {
  readonly group: string;
  readonly id: string;
  /** From `?token=`, `Authorization: Bearer` or the token cookie, in that order. */
  readonly token: string | undefined;
  readonly request: HubRequest;
}

/**
 * The authorize hook's answer: `true` or `{allow: true, meta, expiresAt}` admits (meta is attached
 * to the connection; the stream ends at `expiresAt`); `false` is 403; `{allow: false, status,
 * message}` answers as given.
 */
export type AuthorizeResult =
  | boolean
  | {
      readonly allow: true;
      readonly meta?: Record<string, unknown>;
      /**
       * When the credentials expire, in ms since the epoch (e.g. a token's `exp` × 1000). The
       * hub ends the stream then (disconnect reason `expired`, counted in `expiredDisconnects`)
       * and the client reconnects with a fresh token. A time already past answers 401.
       * Omitted: the stream lives until it is closed otherwise.
       */
      readonly expiresAt?: number;
    }
  | { readonly allow: false; readonly status?: 401 | 403; readonly message?: string };

/** The admin routes, as named to `authorizePublish`. */
export type AdminRoute = 'publish' | 'disconnect' | 'info' | 'metrics' | 'presence' | 'asyncapi';

/** What `authorizePublish` learns about an admin request. */
export interface AuthorizePublishContext {
  readonly route: AdminRoute;
  /** From `Authorization: Bearer`, when present. */
  readonly token: string | undefined;
  readonly request: HubRequest;
}

/**
 * The `authorizePublish` hook's answer: `true` or `{allow: true}` lets the request through;
 * `false` is 403; `{allow: false, status, message}` answers as given.
 */
export type AuthorizePublishResult =
  | boolean
  | { readonly allow: true }
  | { readonly allow: false; readonly status?: 401 | 403; readonly message?: string };

export interface CorsOptions {
  /** Allowed origins: a list, `"*"`, or a test. A page's own origin is always allowed. */
  readonly origin: readonly string[] | '*' | ((origin: string) => boolean);
  /** Send `Access-Control-Allow-Credentials: true` (cookies on cross-origin EventSource). */
  readonly credentials?: boolean;
  /** Preflight cache, seconds (default 600). */
  readonly maxAge?: number;
}

export interface HandlerOptions {
  /** Where the routes live (default `/api/v1/sse`). */
  readonly base?: string;
  /** Decides who may open which (group, id). Runs before anything is written. */
  readonly authorize?: (context: AuthorizeContext) => AuthorizeResult | Promise<AuthorizeResult>;
  /**
   * Built-in token auth: HS256 JWTs signed with this secret. `sub` must equal the id; `groups`
   * (a list, or `"*"` for any) must contain the group, and a token without `groups` joins only
   * `jwtDefaultGroups` (none by default); `exp` is required unless `jwtRequireExp` is false;
   * `exp` and `nbf` are checked, and a stream opened with the token ends when it expires
   * (disconnect reason `expired`). Ignored when `authorize` is given.
   */
  readonly jwtSecret?: string;
  /** Groups a token without a `groups` claim may join (default none: such a token gets 403). */
  readonly jwtDefaultGroups?: readonly string[];
  /**
   * Refuse tokens without an `exp` claim with 401 (default true). Stream tokens travel in URLs
   * and end up in logs; one that never expires is valid for ever.
   */
  readonly jwtRequireExp?: boolean;
  /** Cookie that may carry the token (default `ssehub_token`). */
  readonly tokenCookie?: string;
  /**
   * Requires `Authorization: Bearer <key>` on the admin routes (publish, disconnect, info,
   * metrics, presence): 401 without a key, 403 with a wrong one.
   */
  readonly publisherKey?: string;
  /**
   * Decides who may use the admin routes (publish, disconnect, info, metrics, presence). Runs after the
   * `publisherKey` check when both are given. Either this or `publisherKey` opens the admin
   * routes; without both (and without `unsafeOpenAdminRoutes`) they answer 403.
   */
  readonly authorizePublish?: (
    context: AuthorizePublishContext,
  ) => AuthorizePublishResult | Promise<AuthorizePublishResult>;
  /**
   * UNSAFE, for local development: opens the admin routes to anyone who can reach the server
   * (anyone may broadcast, disconnect clients and read every group name) when neither
   * `publisherKey` nor `authorizePublish` is given. Logs a warning once, when the handler is
   * created. Has no effect when either of them is given.
   */
  readonly unsafeOpenAdminRoutes?: boolean;
  readonly cors?: CorsOptions;
  /** Largest publish body, bytes (default 64 KiB); larger gets 413. */
  readonly maxBodyBytes?: number;
  /**
   * Limits on open streams: in total (503), per (group, id) and per remote address (429). With
   * `maxConnectionsPerIp`, a stream request whose adapter learned no address gets a JSON 500 (the
   * limit is never silently off); @ssehub/fetch refuses the option at start where the runtime
   * passes no addresses (see its `clientAddress` and `trustProxyHeader`).
   */
  readonly limits?: {
    readonly maxConnections?: number;
    readonly maxConnectionsPerClient?: number;
    readonly maxConnectionsPerIp?: number;
    /**
     * New streams admitted per second (a token bucket holding one second's worth), so that the
     * clients of a restarted node come back at a pace it can serve. A stream request over the
     * rate gets 503 with a `Retry-After` that spreads the refused: each one is given the next
     * free second at this rate. Checked before `authorize`. Default: no limit.
     */
    readonly admitPerSecond?: number;
  };
  /** What group and id may look like (default 1–128 of `A-Z a-z 0-9 _ . : @ ~ -`). */
  readonly namePattern?: RegExp;
}

/**
 * Handles one request. It never rejects: a failure inside is a JSON 500. A stream request on a
 * closed hub is a JSON 503 with `Retry-After`.
 */
export type HubHandler = (request: HubRequest) => Promise<HubResponse>;

const DEFAULT_NAME = /^[A-Za-z0-9_.:@~-]{1,128}$/;
/** `application/json` and the `+json` types (`application/merge-patch+json`), with parameters. */
const JSON_TYPE = /^[ \t]*application\/(?:json|[a-z0-9!#$&^_.-]+\+json)[ \t]*(?:;|$)/i;
const LAST_EVENT_ID = new RegExp(`^[^\\0\\r\\n]{0,${MAX_EVENT_ID_LENGTH}}$`);
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
} as const;

/** A JSON error response. */
export function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): PlainResponse {
  return json(status, { code: status, error: STATUS_TEXT[status] ?? 'error', message }, headers);
}

/**
 * The answer to a request outside the hub's routes when nothing else will answer it (plain
 * node:http, a fetch handler without `fallthrough`): JSON 404 naming the method and path.
 */
export function notFoundResponse(request: Pick<HubRequest, 'method' | 'url'>): PlainResponse {
  let path = request.url;
  try {
    path = new URL(request.url, 'http://localhost').pathname;
  } catch {
    // Shown as received.
  }
  return jsonError(404, `No route ${request.method.toUpperCase()} ${path}.`);
}

/** The non-empty segments of a path, percent-decoded (throws `URIError` on a bad escape). */
function pathSegments(path: string): string[] {
  const segments: string[] = [];
  for (const part of path.split('/')) {
    if (part !== '') segments.push(part.includes('%') ? decodeURIComponent(part) : part);
  }
  return segments;
}

/** A path that the URL parser would keep as it is: no dot segment, escape or special character. */
const PLAIN_PATH = /^\/[\w\-~!$&'()*+,;=:@/]*$/;

/**
 * The path and query of a request target, as `new URL(target, 'http://localhost')` reads them;
 * `undefined` when it is not a valid URL. A plain origin-form target (the streams' own) is split
 * without building a `URL`.
 */
function parseTarget(
  target: string,
): { path: string; query: URLSearchParams | undefined } | undefined {
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  if (
    PLAIN_PATH.test(path) &&
    !path.includes('/.') &&
    !path.startsWith('//') &&
    !target.includes('#')
  ) {
    return { path, query: mark < 0 ? undefined : new URLSearchParams(target.slice(mark + 1)) };
  }
  let url: URL;
  try {
    url = new URL(target, 'http://localhost');
  } catch {
    return undefined;
  }
  return { path: url.pathname, query: url.search === '' ? undefined : url.searchParams };
}

/** The answer when answering failed inside the server: JSON 500, with nothing of the cause. */
export function serverErrorResponse(): PlainResponse {
  return jsonError(500, 'The request failed inside the server.');
}

/** A closed (closing) hub admits no stream: 503, come back later (on another instance). */
function hubClosedResponse(): PlainResponse {
  return jsonError(503, 'The hub is closed.', { 'retry-after': '5' });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): PlainResponse {
  return {
    kind: 'response',
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    },
    body: JSON.stringify(body),
  };
}

/** Seconds a client is asked to wait after a `broker_unavailable` (Redis reconnects within 2 s). */
const BROKER_RETRY_AFTER = '2';

/**
 * The answer to an `SSEError`: 503 when the hub is closed or its broker is down, else 400 (with
 * the schema's `issues` when the event catalog refused the data).
 */
function sseErrorResponse(error: SSEError): PlainResponse {
  if (error instanceof EventValidationError) {
    return json(400, {
      code: 400,
      error: 'bad_request',
      message: error.message,
      event: error.event,
      issues: error.issues,
    });
  }
  if (error.code === 'broker_unavailable')
    return jsonError(503, error.message, { 'retry-after': BROKER_RETRY_AFTER });
  return jsonError(error.code === 'hub_closed' ? 503 : 400, error.message);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  500: 'internal_error',
  503: 'service_unavailable',
};

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as the browser meant it. Browsers send `Last-Event-ID` as UTF-8 bytes, and
 * node:http, undici, Bun and Deno hand header bytes over as latin1 characters: re-read those bytes
 * as UTF-8 (values that are not valid UTF-8 stay as they are).
 */
export function utf8Header(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
  if (!/[^\x00-\x7f]/.test(value) || /[^\x00-\xff]/.test(value)) return value;
  const bytes = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return value;
  }
}

/** Compares two strings without an early exit on the first difference. */
export function timingSafeEqual(a: string, b: string): boolean {
  const length = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < length; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

function bearer(request: HubRequest): string | undefined {
  const header = request.headers.get('authorization');
  if (!header) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

function cookie(request: HubRequest, name: string): string | undefined {
  const header = request.headers.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Creates the request handler for a hub: every adapter funnels its requests into it. */
export function createHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: HandlerOptions = {},
): HubHandler {
  const base = (options.base ?? '/api/v1/sse').replace(/\/+$/, '');
  const namePattern = options.namePattern ?? DEFAULT_NAME;
  const maxBody = options.maxBodyBytes ?? 64 * 1024;
  const tokenCookie = options.tokenCookie ?? 'ssehub_token';
  const limits = options.limits ?? {};
  const cors = options.cors;
  /** Open streams per remote address, for `maxConnectionsPerIp`; an address leaves at zero. */
  const byIp = new Map<string, number>();
  const admit = limits.admitPerSecond === undefined ? undefined : admission(limits.admitPerSecond);

  const originAllowed = (origin: string, request: HubRequest): boolean => {
    if (!cors) return true;
    const host = request.headers.get('host');
    if (host && /^https?:\/\//.test(origin) && origin.replace(/^https?:\/\//, '') === host)
      return true;
    const allowed = cors.origin;
    if (allowed === '*') return true;
    if (typeof allowed === 'function') return allowed(origin);
    return allowed.includes(origin);
  };

  const corsHeaders = (origin: string | null | undefined): Record<string, string> => {
    if (!cors || !origin) return {};
    const headers: Record<string, string> = {
      'access-control-allow-origin': cors.origin === '*' && !cors.credentials ? '*' : origin,
      vary: 'Origin',
    };
    if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
    return headers;
  };

  const checkName = (value: string | null | undefined, what: string): string | PlainResponse => {
    if (value === null || value === undefined || value === '')
      return jsonError(400, `The ${what} is missing.`);
    if (!namePattern.test(value)) {
      return jsonError(400, `The ${what} is invalid: it must match ${namePattern.source}.`);
    }
    return value;
  };

  const adminConfigured =
    options.publisherKey !== undefined || options.authorizePublish !== undefined;
  const adminOpen = !adminConfigured && options.unsafeOpenAdminRoutes === true;
  if (adminOpen) {
    console.warn(
      `[ssehub] UNSAFE: unsafeOpenAdminRoutes is on. Anyone who can reach ${base}/publish, ` +
        `${base}/disconnect, ${base}/info, ${base}/metrics and ${base}/presence may broadcast to every client, ` +
        'disconnect any client and read every group name. Use it for local development only; ' +
        'set publisherKey (SSE_PUBLISH_KEY) or authorizePublish instead.',
    );
  }

  /** Undefined when the admin request may go on; otherwise the answer that refuses it. */
  const adminDenied = async (
    request: HubRequest,
    route: AdminRoute,
  ): Promise<PlainResponse | undefined> => {
    if (adminOpen) return undefined;
    if (!adminConfigured) {
      return jsonError(
        403,
        `The admin routes (publish, disconnect, info, metrics, presence, asyncapi.json) are closed: the server sets no ` +
          `publisherKey (SSE_PUBLISH_KEY), no authorizePublish hook and not ` +
          `unsafeOpenAdminRoutes (SSE_UNSAFE_OPEN_ADMIN=1, local development only).`,
      );
    }
    const token = bearer(request);
    if (options.publisherKey !== undefined) {
      if (token === undefined)
        return jsonError(401, 'A publisher key is required (Authorization: Bearer <key>).');
      if (!timingSafeEqual(token, options.publisherKey))
        return jsonError(403, 'The publisher key is wrong.');
    }
    if (options.authorizePublish === undefined) return undefined;
    const decision = await options.authorizePublish({ route, token, request });
    if (decision === true || (typeof decision === 'object' && decision.allow)) return undefined;
    if (decision === false) return jsonError(403, 'Not allowed.');
    const status = decision.status ?? 403;
    return jsonError(
      status,
      decision.message ?? (status === 401 ? 'Unauthorized.' : 'Not allowed.'),
    );
  };

  const authorize = async (context: AuthorizeContext): Promise<AuthorizeResult> => {
    if (options.authorize) return options.authorize(context);
    const secret = options.jwtSecret;
    if (secret === undefined) return true;
    if (context.token === undefined)
      return { allow: false, status: 401, message: 'A token is required.' };
    let claims: StreamClaims;
    try {
      claims = await verifyJwt(context.token, secret, {
        requireExp: options.jwtRequireExp ?? true,
      });
    } catch (error) {
      if (error instanceof JwtError) return { allow: false, status: 401, message: error.message };
      throw error;
    }
    if (claims.sub !== context.id) {
      return { allow: false, status: 403, message: 'The token is for another client id.' };
    }
    const groups = claims.groups ?? options.jwtDefaultGroups ?? [];
    if (groups !== '*' && !groups.includes(context.group)) {
      return {
        allow: false,
        status: 403,
        message:
          claims.groups === undefined
            ? `The token has no "groups" claim, so it allows no group (${context.group} is not one of the server's default groups).`
            : `The token does not allow group ${context.group}.`,
      };
    }
    return {
      allow: true,
      meta: { claims },
      ...(claims.exp === undefined ? {} : { expiresAt: claims.exp * 1000 }),
    };
  };

  const stream = async (
    request: HubRequest,
    query: URLSearchParams | undefined,
    groupRaw: string | null | undefined,
    idRaw: string | null | undefined,
  ): Promise<HubResponse> => {
    const group = checkName(groupRaw, 'group');
    if (typeof group !== 'string') return group;
    const id = checkName(idRaw, 'id');
    if (typeof id !== 'string') return id;
    const header = request.headers.get('last-event-id');
    const lastEventId =
      (header == null ? undefined : utf8Header(header)) ?? query?.get('lastEventId') ?? undefined;
    if (lastEventId !== undefined && !LAST_EVENT_ID.test(lastEventId)) {
      return jsonError(
        400,
        `The Last-Event-ID is invalid: at most ${MAX_EVENT_ID_LENGTH} characters, no CR, LF or NUL.`,
      );
    }
    const token = query?.get('token') ?? bearer(request) ?? cookie(request, tokenCookie);
    if (token !== undefined && token.length > 8192) return jsonError(400, 'The token is too long.');
    if (hub.closed) return hubClosedResponse();
    if (admit !== undefined) {
      // HEAD asks what a GET would get (a client's probe after its EventSource gave up): it
      // neither takes a place nor books one.
      const wait = request.method.toUpperCase() === 'HEAD' ? admit.peek() : admit.take();
      if (wait > 0) {
        return jsonError(503, 'The server is admitting new streams at a bounded rate.', {
          'retry-after': String(wait),
        });
      }
    }
    // Without a hook or a secret every stream is allowed: no promise to wait for.
    const decision =
      options.authorize === undefined && options.jwtSecret === undefined
        ? true
        : await authorize({ group, id, token, request });
    let meta: Record<string, unknown> | undefined;
    let expiresAt: number | undefined;
    if (decision === false) return jsonError(403, 'Not allowed.');
    if (typeof decision === 'object') {
      if (!decision.allow) {
        const status = decision.status ?? 403;
        return jsonError(
          status,
          decision.message ?? (status === 401 ? 'Unauthorized.' : 'Not allowed.'),
        );
      }
      meta = decision.meta;
      expiresAt = decision.expiresAt;
      if (expiresAt !== undefined) {
        // A hook bug, answered as one (500) rather than a stream that never or instantly ends.
        if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt))
          throw new TypeError('authorize returned an expiresAt that is not a finite number.');
        if (expiresAt <= Date.now()) return jsonError(401, 'The token has expired.');
      }
    }
    // Checked after `authorize`, which may take a while: the stream is connected right after.
    if (hub.closed) return hubClosedResponse();
    if (limits.maxConnections !== undefined && hub.connectionCount >= limits.maxConnections) {
      return jsonError(503, 'The server holds its maximum of connections.', { 'retry-after': '5' });
    }
    if (
      limits.maxConnectionsPerClient !== undefined &&
      hub.connectionsOf({ group, id }) >= limits.maxConnectionsPerClient
    ) {
      return jsonError(429, 'Too many connections for this client.');
    }
    const ip = request.remoteAddress;
    const perIp = limits.maxConnectionsPerIp !== undefined && ip !== undefined;
    // A per-IP limit is never silently off: a request whose address the adapter could not learn
    // is refused (a server configuration error), not let through unlimited.
    if (limits.maxConnectionsPerIp !== undefined && ip === undefined) {
      return jsonError(500, 'maxConnectionsPerIp is set, but the client address is unknown.');
    }
    if (perIp && (byIp.get(ip) ?? 0) >= limits.maxConnectionsPerIp!) {
      return jsonError(429, 'Too many connections from this address.');
    }
    const headers: Record<string, string> = { ...SSE_HEADERS };
    const version = request.httpVersion;
    if (version?.startsWith('1.')) headers.connection = 'keep-alive';
    return {
      kind: 'stream',
      status: 200,
      headers,
      connect: (sink) => {
        const connection = hub.connect(sink, {
          group,
          id,
          lastEventId,
          meta,
          remoteAddress: ip,
          expiresAt,
        });
        if (perIp) {
          byIp.set(ip, (byIp.get(ip) ?? 0) + 1);
          connection.onClose(() => {
            const left = byIp.get(ip)! - 1;
            if (left === 0) byIp.delete(ip);
            else byIp.set(ip, left);
          });
        }
        return connection;
      },
    };
  };

  const publish = async (request: HubRequest): Promise<HubResponse> => {
    const type = request.headers.get('content-type');
    // JSON only: text/plain and the form types are what a page of any other site may POST without
    // a CORS preflight.
    if (!type || !JSON_TYPE.test(type)) {
      return jsonError(
        415,
        `The body must be JSON (Content-Type: application/json or another +json type), got ${type ? JSON.stringify(type) : 'no Content-Type'}.`,
      );
    }
    let text: string;
    try {
      text = await request.readBody(maxBody);
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        return jsonError(413, `The body is larger than ${maxBody} bytes.`);
      return jsonError(400, 'The body could not be read.');
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return jsonError(400, 'The body is not valid JSON.');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return jsonError(400, 'The body must be a JSON object.');
    }
    const { group, id, ids, event, data, eventId, retry } = body as Record<string, unknown>;
    for (const [name, value] of [
      ['group', group],
      ['id', id],
      ['event', event],
      ['eventId', eventId],
    ] as const) {
      if (value !== undefined && typeof value !== 'string')
        return jsonError(400, `"${name}" must be a string.`);
    }
    if (retry !== undefined && !(Number.isSafeInteger(retry) && (retry as number) >= 0)) {
      return jsonError(400, '"retry" must be a non-negative integer.');
    }
    if (data === undefined) return jsonError(400, '"data" is required.');
    if (
      ids !== undefined &&
      !(Array.isArray(ids) && ids.length <= 10_000 && ids.every((x) => typeof x === 'string'))
    ) {
      return jsonError(400, '"ids" must be a list of strings.');
    }
    for (const [what, value] of [
      ['group', group],
      ['id', id],
      ...((ids as string[] | undefined) ?? []).map((x) => ['id', x] as const),
    ] as const) {
      if (value === undefined) continue;
      const checked = checkName(value as string, what);
      if (typeof checked !== 'string') return checked;
    }
    if ((id !== undefined || ids !== undefined) && group === undefined) {
      return jsonError(400, '"id" and "ids" need a "group".');
    }
    const message = { event, data, id: eventId, retry } as HubEvent<M>;
    let delivered: number;
    try {
      delivered =
        id !== undefined
          ? await hub.send({ group: group as string, id: id as string }, message)
          : ids !== undefined
            ? await hub.sendMany(
                (ids as string[]).map((x) => ({ group: group as string, id: x })),
                message,
              )
            : group !== undefined
              ? await hub.sendGroup(group as string, message)
              : await hub.broadcast(message);
    } catch (error) {
      if (error instanceof SSEError) return sseErrorResponse(error);
      throw error;
    }
    return json(200, { code: 200, data: { delivered } });
  };

  const respond = async (request: HubRequest): Promise<HubResponse> => {
    const target = parseTarget(request.url);
    if (target === undefined) return jsonError(400, 'The URL is invalid.');
    const { path, query } = target;
    if (path !== base && !path.startsWith(`${base}/`)) return { kind: 'pass' };
    let segments: string[];
    try {
      segments = pathSegments(path.slice(base.length));
    } catch {
      return jsonError(400, 'The path is not valid percent-encoding.');
    }
    const origin = request.headers.get('origin');
    if (cors && origin && !originAllowed(origin, request)) {
      return jsonError(403, `The origin ${origin} is not allowed.`);
    }
    const method = request.method.toUpperCase();
    const route = (allowed: string): PlainResponse | undefined => {
      if (method === 'OPTIONS') {
        const headers: Record<string, string> = { allow: `${allowed}, OPTIONS` };
        if (cors && origin) {
          headers['access-control-allow-methods'] = `${allowed}, OPTIONS`;
          headers['access-control-allow-headers'] =
            'Authorization, Content-Type, Last-Event-ID, Cache-Control';
          headers['access-control-max-age'] = String(cors.maxAge ?? 600);
        }
        return { kind: 'response', status: 204, headers, body: '' };
      }
      if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
        return jsonError(405, `Use ${allowed} on this route.`, { allow: `${allowed}, OPTIONS` });
      }
      return undefined;
    };

    const first = segments.shift();
    const rest = segments;
    try {
      switch (first) {
        case 'stream': {
          if (rest.length !== 0 && rest.length !== 2) break;
          const early = route('GET');
          if (early) return early;
          return await stream(
            request,
            query,
            rest[0] ?? query?.get('group'),
            rest[1] ?? query?.get('id'),
          );
        }
        case 'disconnect': {
          if (rest.length !== 2) break;
          const early = route('POST') ?? (await adminDenied(request, 'disconnect'));
          if (early) return early;
          const group = checkName(rest[0], 'group');
          if (typeof group !== 'string') return group;
          const id = checkName(rest[1], 'id');
          if (typeof id !== 'string') return id;
          let disconnected: number;
          try {
            disconnected = hub.disconnect({ group, id });
          } catch (error) {
            if (error instanceof SSEError) return sseErrorResponse(error);
            throw error;
          }
          return json(200, { code: 200, data: { disconnected } });
        }
        case 'info': {
          if (rest.length !== 0) break;
          const early = route('GET') ?? (await adminDenied(request, 'info'));
          if (early) return early;
          return json(200, { code: 200, data: hub.info() });
        }
        case 'metrics': {
          if (rest.length !== 0) break;
          const early = route('GET') ?? (await adminDenied(request, 'metrics'));
          if (early) return early;
          return {
            kind: 'response',
            status: 200,
            headers: {
              'content-type': 'text/plain; version=0.0.4; charset=utf-8',
              'cache-control': 'no-store',
            },
            body: formatMetrics(hub.metrics()),
          };
        }
        case 'presence': {
          if (rest.length !== 1) break;
          const early = route('GET') ?? (await adminDenied(request, 'presence'));
          if (early) return early;
          const group = checkName(rest[0], 'group');
          if (typeof group !== 'string') return group;
          let presence: Awaited<ReturnType<Hub<M>['presence']>>;
          try {
            presence = await hub.presence(group);
          } catch {
            // A presence store (Redis) that does not answer: nothing to show, come back later.
            return jsonError(503, 'Presence is unavailable: its store did not answer.', {
              'retry-after': BROKER_RETRY_AFTER,
            });
          }
          return json(200, { code: 200, data: presence });
        }
        case 'asyncapi.json': {
          if (rest.length !== 0) break;
          const early = route('GET') ?? (await adminDenied(request, 'asyncapi'));
          if (early) return early;
          const catalog = hub.catalog;
          if (catalog === undefined)
            return jsonError(404, 'The hub has no event catalog (HubOptions.events).');
          return json(200, asyncApiDocument(catalog, { base }));
        }
        case 'publish': {
          if (rest.length !== 0) break;
          const early = route('POST') ?? (await adminDenied(request, 'publish'));
          if (early) return early;
          return await publish(request);
        }
      }
    } catch {
      return serverErrorResponse();
    }
    return notFoundResponse(request);
  };

  // Every answer to an allowed cross-origin request carries the CORS headers, errors included:
  // otherwise the browser hides the JSON error from the page. The handler never rejects: what
  // fails inside it is a JSON 500, the same on every adapter.
  return async (request) => {
    let response: HubResponse;
    try {
      response = await respond(request);
    } catch {
      response = serverErrorResponse();
    }
    if (!cors || response.kind === 'pass') return response;
    const origin = request.headers.get('origin');
    if (!origin || !originAllowed(origin, request)) return response;
    return { ...response, headers: { ...corsHeaders(origin), ...response.headers } };
  };
}

/** Seconds a refused stream is told to wait at most (`Retry-After`). */
const MAX_ADMIT_WAIT_S = 120;

/**
 * The admission gate of `limits.admitPerSecond`: a token bucket of one second's worth. Answers 0
 * (admitted) or the seconds to wait. The refused are handed successive slots at the rate, so
 * 10 000 clients back at once are told 1, 1, ..., 2, 2, ... seconds rather than all "1".
 */
function admission(perSecond: number): { take(): number; peek(): number } {
  if (!(Number.isFinite(perSecond) && perSecond > 0))
    throw new RangeError(`limits.admitPerSecond must be a positive number, got ${perSecond}`);
  const burst = Math.max(1, perSecond);
  let tokens = burst;
  let refilledAt = Date.now();
  /** The time up to which refused clients have been given slots. */
  let bookedUntil = 0;
  const refill = (now: number) => {
    tokens = Math.min(burst, tokens + ((now - refilledAt) * perSecond) / 1000);
    refilledAt = now;
  };
  const wait = (slot: number, now: number) =>
    Math.min(MAX_ADMIT_WAIT_S, Math.max(1, Math.ceil((slot - now) / 1000)));
  return {
    take() {
      const now = Date.now();
      refill(now);
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      bookedUntil = Math.max(bookedUntil, now) + 1000 / perSecond;
      return wait(bookedUntil, now);
    },
    peek() {
      const now = Date.now();
      refill(now);
      return tokens >= 1 ? 0 : wait(Math.max(bookedUntil, now) + 1000 / perSecond, now);
    },
  };
}
