import { createHmac } from 'node:crypto';
import {
  authenticateAuthorizationHeader,
  DEFAULT_LOCAL_JWT_SECRET,
  getLocalJwtSecret,
  InvalidTokenError,
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
  it('round-trips a signed token and exposes sub', () => {
    // Prepare
    const token = signLocalToken('user-1', { secret: SECRET, claims: { email: 'u@example.com' } });

    // Act
    const claims = verifyLocalToken(token, { secret: SECRET });

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
    ['not yet valid', () => forge({ alg: 'HS256' }, { sub: 'user-1', nbf: Math.floor(Date.now() / 1000) + 3600 }), 'Token not yet valid'],
    ['no sub', () => forge({ alg: 'HS256' }, { exp: Math.floor(Date.now() / 1000) + 60 }), 'Token has no subject'],
    ['two segments', () => 'abc.def', 'Malformed token'],
    ['garbage JSON', () => 'bm90IGpzb24.bm90IGpzb24.sig', 'Malformed token'],
  ])('rejects a token with %s', (_case, makeToken, message) => {
    // Act
    const verify = () => verifyLocalToken(makeToken(), { secret: SECRET });

    // Assess
    expect(verify).toThrow(InvalidTokenError);
    expect(verify).toThrow(message);
  });

  it('tolerates small clock skew on exp', () => {
    // Prepare
    const now = Math.floor(Date.now() / 1000);
    const token = signLocalToken('user-1', { secret: SECRET, now: now - 70, expiresInSeconds: 60 });

    // Act + Assess
    expect(verifyLocalToken(token, { secret: SECRET, now }).sub).toBe('user-1');
    expect(() => verifyLocalToken(token, { secret: SECRET, now: now + 60 })).toThrow('Token expired');
  });

  it('parses the Authorization header', () => {
    // Prepare
    const token = signLocalToken('user-2', { secret: SECRET });

    // Act + Assess
    expect(authenticateAuthorizationHeader(`Bearer ${token}`, { secret: SECRET }).sub).toBe('user-2');
    expect(() => authenticateAuthorizationHeader(undefined, { secret: SECRET })).toThrow('Missing Authorization header');
    expect(() => authenticateAuthorizationHeader(`Basic ${token}`, { secret: SECRET })).toThrow('Bearer');
  });

  it('uses LOCAL_JWT_SECRET, else the documented default', () => {
    expect(getLocalJwtSecret({ LOCAL_JWT_SECRET: 's3cret' })).toBe('s3cret');
    expect(getLocalJwtSecret({})).toBe(DEFAULT_LOCAL_JWT_SECRET);
  });
});
