/** The path under which an ssehub server mounts its endpoints by default. */
export const DEFAULT_BASE_PATH = '/api/v1/sse';

/** Where a client connects: its group and id, plus what EventSource cannot send as headers. */
export interface StreamParams {
  /** The client's group, e.g. `notifications` or `challenge_42`. */
  group: string;
  /** The client's id within the group, e.g. a user id. */
  id: string;
  /** Sent as `?token=`, because EventSource cannot set an `Authorization` header. */
  token?: string;
  /** Sent as `?lastEventId=` so the server can replay what was missed (see {@link withLastEventId}). */
  lastEventId?: string;
}

/**
 * Builds the URL of ssehub's stream endpoint:
 * `${base}/stream/${group}/${id}?token=…&lastEventId=…`, with each path segment URI-encoded.
 *
 * @param base - Where the server mounts ssehub, e.g. {@link DEFAULT_BASE_PATH} or
 *   `https://api.example.com/api/v1/sse`. A trailing slash is ignored.
 * @example
 * ```ts
 * streamUrl('/api/v1/sse', { group: 'notifications', id: 'user 1', token: 't' });
 * // '/api/v1/sse/stream/notifications/user%201?token=t'
 * ```
 */
export function streamUrl(base: string, params: StreamParams): string {
  const path = `${base.replace(/\/+$/, '')}/stream/${encodeURIComponent(params.group)}/${encodeURIComponent(params.id)}`;
  const query = new URLSearchParams();
  if (params.token !== undefined) query.set('token', params.token);
  if (params.lastEventId) query.set('lastEventId', params.lastEventId);
  const search = query.toString();
  return search ? `${path}?${search}` : path;
}

/** The `lastEventId` query parameter of `url`, if any. */
export function lastEventIdOf(url: string): string | undefined {
  return queryParam(url, 'lastEventId');
}

/**
 * Returns `url` with its `lastEventId` query parameter set to `lastEventId` (replacing any
 * previous one), or removed when `lastEventId` is empty. Works on relative and absolute URLs and
 * keeps the fragment.
 *
 * A freshly constructed EventSource cannot send the `Last-Event-ID` header, so ssehub's server
 * also accepts the id as this query parameter.
 */
export function withLastEventId(url: string, lastEventId: string | undefined): string {
  return withQueryParam(url, 'lastEventId', lastEventId);
}

/**
 * Returns `url` with its query parameter `name` set to `value` (replacing any previous one), or
 * removed when `value` is empty or undefined. Keeps the fragment, and returns the URL as written
 * when nothing changes.
 */
export function withQueryParam(url: string, name: string, value: string | undefined): string {
  const hashAt = url.indexOf('#');
  const hash = hashAt === -1 ? '' : url.slice(hashAt);
  const beforeHash = hashAt === -1 ? url : url.slice(0, hashAt);
  const queryAt = beforeHash.indexOf('?');
  const path = queryAt === -1 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = new URLSearchParams(queryAt === -1 ? '' : beforeHash.slice(queryAt + 1));
  if (query.get(name) === (value || null)) return url;
  if (value) query.set(name, value);
  else query.delete(name);
  const search = query.toString();
  return `${path}${search ? `?${search}` : ''}${hash}`;
}

/**
 * The expiry of a JWT, in ms since the epoch: its `exp` claim, read WITHOUT verifying anything
 * (the server verifies; the client only plans its refresh). `undefined` when `token` is not a JWT
 * or has no numeric `exp`.
 */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || !/^[A-Za-z0-9_-]+$/.test(payload)) return undefined;
  try {
    const binary = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The query parameter `name` of `url`, if any. */
export function queryParam(url: string, name: string): string | undefined {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return undefined;
  const hashAt = url.indexOf('#', queryAt);
  const query = url.slice(queryAt + 1, hashAt === -1 ? undefined : hashAt);
  return new URLSearchParams(query).get(name) ?? undefined;
}

/**
 * What names a stream across the tabs of an origin: its absolute URL (resolved against the page's
 * location, when there is one) without the `token` and `lastEventId` query parameters and the
 * fragment, which differ between tabs of one stream.
 */
export function streamKey(url: string): string {
  let key = withQueryParam(withQueryParam(url, 'token', undefined), 'lastEventId', undefined);
  const hashAt = key.indexOf('#');
  if (hashAt !== -1) key = key.slice(0, hashAt);
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(key, base).href;
  } catch {
    return key;
  }
}
