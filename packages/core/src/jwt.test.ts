import { describe, expect, it } from 'vitest';
import { base64UrlDecode, base64UrlEncode, JwtError, signJwt, verifyJwt } from './jwt.js';

const secret = 'test-secret';
const enc = new TextEncoder();
const b64 = (value: unknown) => base64UrlEncode(enc.encode(JSON.stringify(value)));

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(JwtError);
    return (error as JwtError).reason;
  }
}

describe('HS256 JWT', () => {
  it('signs and verifies its own tokens', async () => {
    const token = await signJwt({ sub: 'alice', groups: ['users'] }, secret, { expiresIn: 60 });
    const claims = await verifyJwt(token, secret);
    expect(claims).toMatchObject({ sub: 'alice', groups: ['users'] });
    expect(claims.exp).toBe((claims.iat as number) + 60);
  });

  it('verifies a token made by another implementation (RFC 7515 example shape)', async () => {
    // Signed independently with WebCrypto over the exact header bytes below.
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const body = b64({ sub: 'bob' });
    const key = await crypto.subtle.importKey(
      'raw',
      enc.encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const sig = new Uint8Array(
      await crypto.subtle.sign('HMAC', key, enc.encode(`${head}.${body}`)),
    );
    expect((await verifyJwt(`${head}.${body}.${base64UrlEncode(sig)}`, secret)).sub).toBe('bob');
  });

  it('refuses expired, not-yet-valid, badly signed, malformed and alg-swapped tokens', async () => {
    const now = Date.now();
    const expired = await signJwt({ sub: 'a', exp: Math.floor(now / 1000) - 1 }, secret);
    const early = await signJwt({ sub: 'a', nbf: Math.floor(now / 1000) + 60 }, secret);
    const other = await signJwt({ sub: 'a' }, 'another-secret');
    const good = await signJwt({ sub: 'a' }, secret);
    const [, body, sig] = good.split('.');
    expect(await reason(verifyJwt(expired, secret))).toBe('expired');
    expect(await reason(verifyJwt(early, secret))).toBe('not-yet-valid');
    expect(await reason(verifyJwt(other, secret))).toBe('signature');
    expect(await reason(verifyJwt(`${good}x`, secret))).toMatch(/signature|malformed/);
    expect(await reason(verifyJwt('a.b', secret))).toBe('malformed');
    expect(await reason(verifyJwt('%%%.b.c', secret))).toBe('malformed');
    expect(await reason(verifyJwt(`${b64({ alg: 'none' })}.${body}.`, secret))).toBe('algorithm');
    expect(await reason(verifyJwt(`${b64({ alg: 'HS512' })}.${body}.${sig}`, secret))).toBe(
      'algorithm',
    );
    expect(await reason(verifyJwt(`${b64({ alg: 'RS256' })}.${body}.${sig}`, secret))).toBe(
      'algorithm',
    );
    // A payload swapped under a valid signature fails.
    expect(
      await reason(verifyJwt(`${good.split('.')[0]}.${b64({ sub: 'root' })}.${sig}`, secret)),
    ).toBe('signature');
  });

  it('accepts one spelling of a signature: unused low bits in its last character are refused', async () => {
    const good = await signJwt({ sub: 'a' }, secret);
    const [head, body, sig = ''] = good.split('.');
    // 32 bytes are 43 characters; the last one carries 4 bits, so its low 2 bits must be zero.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(sig.slice(-1));
    expect(last & 3).toBe(0);
    for (const low of [1, 2, 3]) {
      const twin = `${head}.${body}.${sig.slice(0, -1)}${alphabet[last | low]}`;
      expect(await reason(verifyJwt(twin, secret))).toBe('malformed');
    }
    expect(() => base64UrlDecode('QR')).toThrow(JwtError);
    expect(base64UrlDecode('QQ')).toEqual(new Uint8Array([0x41]));
  });

  it('requires a subject and well-formed groups', async () => {
    expect(await reason(verifyJwt(await signJwt({ groups: ['x'] } as never, secret), secret))).toBe(
      'claims',
    );
    expect(
      await reason(verifyJwt(await signJwt({ sub: 'a', groups: 'x' as never }, secret), secret)),
    ).toBe('claims');
    expect(await reason(verifyJwt(await signJwt({ sub: 'a', groups: '*' }, secret), secret))).toBe(
      'accepted',
    );
  });

  it('requires exp when asked, and numeric time claims', async () => {
    const forever = await signJwt({ sub: 'a', groups: '*' }, secret);
    expect(await reason(verifyJwt(forever, secret))).toBe('accepted');
    expect(await reason(verifyJwt(forever, secret, { requireExp: true }))).toBe('claims');
    const expiring = await signJwt({ sub: 'a' }, secret, { expiresIn: 60 });
    expect(await reason(verifyJwt(expiring, secret, { requireExp: true }))).toBe('accepted');
    const stringExp = await signJwt({ sub: 'a', exp: '9999999999' as never }, secret);
    await expect(verifyJwt(stringExp, secret)).rejects.toThrow(/"exp" must be a number/);
  });

  it('base64url round-trips bytes', () => {
    const bytes = new Uint8Array([0, 255, 62, 63, 251, 1]);
    expect(base64UrlDecode(base64UrlEncode(bytes))).toEqual(bytes);
    expect(() => base64UrlDecode('a+b/')).toThrow(JwtError);
  });
});
