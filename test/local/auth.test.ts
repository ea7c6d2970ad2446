import { createHmac } from 'node:crypto';
import {
  assertSafeBinding,
  authenticateAuthorizationHeader,
  DEFAULT_LOCAL_JWT_SECRET,
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  getLocalJwtMaxLifetimeSeconds,
  getLocalJwtSecret,
  InvalidTokenError,
  isLoopbackHost,
  signLocalToken,
  toAuthorizerClaims,
  verifyLocalToken,
} from '../../local/auth';

const SECRET = 'test-secret';

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function forge(header: unknown, payload: unknown, secret = SECRET): string {
  const input = `${encode(header)}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

describe('local authorizer tokens', () => {
  it('round-trips a signed token and exposes sub', async () => {
    // Prepare
    const token = signLocalToken('user-1', { secret: SECRET, claims: { email: 'u@example.com' } });

    // Act
    const claims = await verifyLocalToken(token, { secret: SECRET });

    // Assess
    expect(claims.sub).toBe('user-1');
    expect(claims.email).toBe('u@example.com');
    expect(Number(claims.exp) - Number(claims.iat)).toBe(24 * 60 * 60);
    expect(toAuthorizerClaims(claims)).toMatchObject({ sub: 'user-1', exp: String(claims.exp) });
  });

  it.each([
    ['another secret', () => signLocalToken('user-1', { secret: 'other' }), 'Invalid token signature'],
    ['alg none', () => `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: 'user-1' })}.`, 'Unsupported token algorithm'],
    ['alg HS512', () => forge({ alg: 'HS512' }, { sub: 'user-1' }), 'Unsupported token algorithm'],
    ['expired', () => signLocalToken('user-1', { secret: SECRET, now: Math.floor(Date.now() / 1000) - 3600, expiresInSeconds: 60 }), 'Token expired'],
    ['not yet valid', () => forge({ alg: 'HS256' }, { sub: 'user-1', nbf: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 7200 }), 'Token not yet valid'],
    ['no sub', () => forge({ alg: 'HS256' }, { exp: Math.floor(Date.now() / 1000) + 60 }), 'Token has no subject'],
    // A token must expire, within the maximum lifetime (7 days by default).
    ['no exp', () => forge({ alg: 'HS256' }, { sub: 'user-1' }), 'Token has no valid expiry'],
    ['exp 1e308', () => forge({ alg: 'HS256' }, { sub: 'user-1', exp: 1e308 }), 'Token lifetime exceeds the allowed maximum'],
    ['exp as a string', () => forge({ alg: 'HS256' }, { sub: 'user-1', exp: String(Math.floor(Date.now() / 1000) + 60) }), 'Token has no valid expiry'],
    ['exp 8 days ahead', () => signLocalToken('user-1', { secret: SECRET, expiresInSeconds: 8 * 24 * 3600 }), 'Token lifetime exceeds the allowed maximum'],
    // A sub that cannot be stored as itself (Postgres: no NUL; lone surrogates become U+FFFD).
    ['NUL in sub', () => signLocalToken('eve\u0000', { secret: SECRET }), 'Token subject is not valid Unicode text'],
    ['a lone high surrogate in sub', () => signLocalToken('eve\ud800', { secret: SECRET }), 'Token subject is not valid Unicode text'],
    ['a lone low surrogate in sub', () => signLocalToken('\udc00eve', { secret: SECRET }), 'Token subject is not valid Unicode text'],
    ['a non-string sub', () => forge({ alg: 'HS256' }, { sub: { toString: 1 }, exp: Math.floor(Date.now() / 1000) + 60 }), 'Token has no subject'],
    ['two segments', () => 'abc.def', 'Malformed token'],
    ['garbage JSON', () => 'bm90IGpzb24.bm90IGpzb24.sig', 'Malformed token'],
  ])('rejects a token with %s', async (_case, makeToken, message) => {
    // Act
    const verify = verifyLocalToken(makeToken(), { secret: SECRET });

    // Assess
    await expect(verify).rejects.toThrow(InvalidTokenError);
    await expect(verify).rejects.toThrow(message);
  });

  it('tolerates small clock skew on exp', async () => {
    // Prepare
    const now = Math.floor(Date.now() / 1000);
    const token = signLocalToken('user-1', { secret: SECRET, now: now - 70, expiresInSeconds: 60 });

    // Act + Assess
    expect((await verifyLocalToken(token, { secret: SECRET, now })).sub).toBe('user-1');
    await expect(verifyLocalToken(token, { secret: SECRET, now: now + 60 })).rejects.toThrow('Token expired');
  });

  it('parses the Authorization header: Bearer <token> or the bare token', async () => {
    // Prepare
    const token = signLocalToken('user-2', { secret: SECRET });

    // Act + Assess
    expect((await authenticateAuthorizationHeader(`Bearer ${token}`, { secret: SECRET })).sub).toBe('user-2');
    expect((await authenticateAuthorizationHeader(token, { secret: SECRET })).sub).toBe('user-2');
    await expect(authenticateAuthorizationHeader(undefined, { secret: SECRET })).rejects.toThrow('Missing Authorization header');
    await expect(authenticateAuthorizationHeader(`Basic ${token}`, { secret: SECRET })).rejects.toThrow('Bearer');
  });

  it('accepts a well-formed non-ASCII sub, and U+FFFD itself', async () => {
    expect((await verifyLocalToken(signLocalToken('ève 😀', { secret: SECRET }), { secret: SECRET })).sub).toBe('ève 😀');
    expect((await verifyLocalToken(signLocalToken('eve\ufffd', { secret: SECRET }), { secret: SECRET })).sub).toBe('eve\ufffd');
  });

  it('takes the maximum lifetime from LOCAL_JWT_MAX_LIFETIME_SECONDS', async () => {
    // Prepare
    const token = signLocalToken('user-1', { secret: SECRET, expiresInSeconds: 3600 });

    // Act + Assess
    expect((await verifyLocalToken(token, { secret: SECRET, maxLifetimeSeconds: 3600 })).sub).toBe('user-1');
    await expect(verifyLocalToken(token, { secret: SECRET, maxLifetimeSeconds: 600 })).rejects.toThrow('Token lifetime exceeds the allowed maximum');
    expect(getLocalJwtMaxLifetimeSeconds({})).toBe(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS);
    expect(getLocalJwtMaxLifetimeSeconds({ LOCAL_JWT_MAX_LIFETIME_SECONDS: '3600' })).toBe(3600);
    expect(() => getLocalJwtMaxLifetimeSeconds({ LOCAL_JWT_MAX_LIFETIME_SECONDS: '1e308' })).toThrow('LOCAL_JWT_MAX_LIFETIME_SECONDS');
    expect(() => getLocalJwtMaxLifetimeSeconds({ LOCAL_JWT_MAX_LIFETIME_SECONDS: '0' })).toThrow('LOCAL_JWT_MAX_LIFETIME_SECONDS');
  });

  it('uses LOCAL_JWT_SECRET, else the documented default', () => {
    expect(getLocalJwtSecret({ LOCAL_JWT_SECRET: 's3cret' })).toBe('s3cret');
    expect(getLocalJwtSecret({})).toBe(DEFAULT_LOCAL_JWT_SECRET);
  });

  it.each(['127.0.0.1', '127.8.9.10', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1'])('counts %s as loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '192.168.1.5', 'localhost.example.com', '127.0.0.1.nip.io', 'my-laptop.local', ''])('does not count %j as loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('refuses a non-loopback HOST with the default secret only', () => {
    expect(() => assertSafeBinding('0.0.0.0', DEFAULT_LOCAL_JWT_SECRET)).toThrow(/^HOST=0\.0\.0\.0 serves beyond this machine.*set LOCAL_JWT_SECRET/);
    expect(() => assertSafeBinding('192.168.1.5', DEFAULT_LOCAL_JWT_SECRET)).toThrow('LOCAL_JWT_SECRET');
    expect(() => assertSafeBinding('0.0.0.0', 'a-long-random-secret')).not.toThrow();
    expect(() => assertSafeBinding('127.0.0.1', DEFAULT_LOCAL_JWT_SECRET)).not.toThrow();
    expect(() => assertSafeBinding('::1', DEFAULT_LOCAL_JWT_SECRET)).not.toThrow();
  });
});
