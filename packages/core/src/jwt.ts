/**
 * HS256 JSON Web Tokens through WebCrypto (RFC 7519 / RFC 7515), enough for stream auth. The
 * claims the handler (`jwtSecret`) reads:
 *
 * | claim | meaning |
 * | --- | --- |
 * | `sub` | the client id; must equal the stream's id |
 * | `groups` | a list of groups, or `"*"` for any; absent = no group (or `jwtDefaultGroups`) |
 * | `exp` | expiry (seconds since the epoch); required unless `jwtRequireExp: false` |
 * | `nbf` | not valid before (seconds since the epoch); optional |
 *
 * Only `alg: "HS256"` is accepted; the signature is checked by `crypto.subtle.verify`, which
 * compares in constant time.
 */

/** The claims ssehub reads; any others are kept. */
export interface StreamClaims {
  /** The client id this token may open. */
  sub: string;
  /**
   * Groups this token may join: a list, or `"*"` for any. Without it the handler admits to no
   * group (only its `jwtDefaultGroups`, if set).
   */
  groups?: readonly string[] | '*';
  /**
   * Expiry, seconds since the epoch. The handler requires it unless `jwtRequireExp` is false;
   * it is checked when a stream opens, and a stream opened with the token ends at that time
   * (disconnect reason `expired`).
   */
  exp?: number;
  /** Not valid before, seconds since the epoch. */
  nbf?: number;
  iat?: number;
  [claim: string]: unknown;
}

/** Why a token was refused. */
export class JwtError extends Error {
  override readonly name = 'JwtError';
  constructor(
    readonly reason:
      | 'malformed'
      | 'algorithm'
      | 'signature'
      | 'expired'
      | 'not-yet-valid'
      | 'claims',
    message: string,
  ) {
    super(message);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const keys = new Map<string, Promise<CryptoKey>>();

function key(secret: string): Promise<CryptoKey> {
  let found = keys.get(secret);
  if (found === undefined) {
    found = crypto.subtle.importKey(
      'raw',
      encoder.encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    keys.set(secret, found);
  }
  return found;
}

/** base64url without padding. */
export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decodes base64url; throws on characters outside the alphabet and on non-canonical text (unused
 * low bits set in the last character), so one token has exactly one spelling.
 */
export function base64UrlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1)
    throw new JwtError('malformed', 'Invalid base64url.');
  const binary = atob(
    text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4),
  );
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (base64UrlEncode(bytes) !== text) throw new JwtError('malformed', 'Invalid base64url.');
  return bytes;
}

function parseJson(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(base64UrlDecode(part)));
  } catch {
    throw new JwtError('malformed', 'The token is not a JWT.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new JwtError('malformed', 'The token is not a JWT.');
  }
  return value as Record<string, unknown>;
}

/** Signs claims as an HS256 JWT. `expiresIn` (seconds) sets `exp` relative to now. */
export async function signJwt(
  claims: StreamClaims,
  secret: string,
  options: { expiresIn?: number; now?: number } = {},
): Promise<string> {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const body: StreamClaims = { iat: now, ...claims };
  if (options.expiresIn !== undefined) body.exp = now + options.expiresIn;
  const head = base64UrlEncode(encoder.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const payload = base64UrlEncode(encoder.encode(JSON.stringify(body)));
  const signature = await crypto.subtle.sign(
    'HMAC',
    await key(secret),
    encoder.encode(`${head}.${payload}`),
  );
  return `${head}.${payload}.${base64UrlEncode(new Uint8Array(signature))}`;
}

/**
 * Verifies an HS256 JWT and its time claims; resolves with the claims or rejects with `JwtError`.
 * `requireExp` refuses a token without `exp` (reason `claims`); the handler sets it unless
 * `jwtRequireExp` is false.
 */
export async function verifyJwt(
  token: string,
  secret: string,
  options: { now?: number; clockToleranceSec?: number; requireExp?: boolean } = {},
): Promise<StreamClaims> {
  if (typeof token !== 'string' || token.length > 8192)
    throw new JwtError('malformed', 'The token is not a JWT.');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed', 'The token is not a JWT.');
  const [head, payload, signature] = parts as [string, string, string];
  const header = parseJson(head);
  if (header.alg !== 'HS256') throw new JwtError('algorithm', 'Only HS256 tokens are accepted.');
  const valid = await crypto.subtle.verify(
    'HMAC',
    await key(secret),
    base64UrlDecode(signature) as Uint8Array<ArrayBuffer>,
    encoder.encode(`${head}.${payload}`),
  );
  if (!valid) throw new JwtError('signature', 'The token signature is invalid.');
  const claims = parseJson(payload);
  if (options.requireExp && claims.exp === undefined) {
    throw new JwtError(
      'claims',
      'The token has no expiry (exp); this server requires one. Sign tokens with an exp claim.',
    );
  }
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const tolerance = options.clockToleranceSec ?? 0;
  for (const name of ['exp', 'nbf'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'number')
      throw new JwtError('claims', `The token claim "${name}" must be a number (seconds).`);
  }
  if (claims.exp !== undefined && now >= (claims.exp as number) + tolerance) {
    throw new JwtError('expired', 'The token has expired.');
  }
  if (claims.nbf !== undefined && now < (claims.nbf as number) - tolerance) {
    throw new JwtError('not-yet-valid', 'The token is not valid yet.');
  }
  if (typeof claims.sub !== 'string')
    throw new JwtError('claims', 'The token has no subject (sub).');
  const groups = claims.groups;
  if (
    groups !== undefined &&
    groups !== '*' &&
    !(Array.isArray(groups) && groups.every((g) => typeof g === 'string'))
  ) {
    throw new JwtError('claims', 'The token claim "groups" must be "*" or a list of strings.');
  }
  return claims as StreamClaims;
}
