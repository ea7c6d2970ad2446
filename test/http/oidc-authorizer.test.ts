/**
 * The OIDC verification the deployed Lambda authorizer and `npm start` share
 * (layer/src/http/token-verifier.ts, authorizer.ts), against a local issuer that serves its
 * discovery document and JWKS over HTTP: what is accepted, what is a 401, and how often the
 * JWKS is fetched per container.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyEvent, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { signLocalToken } from '../../local/auth';
import { startLocalServer, type LocalHandlers, type LocalServer } from '../../local/server';
import { allowPolicy, verifyAuthorizationHeader } from '../../layer/src/http/authorizer';
import { getUserId, jsonResponse } from '../../layer/src/http/middlewares';
import { API_FUNCTIONS, type ApiFunctionName } from '../../layer/src/contracts/route-table';
import {
  createOidcVerifier,
  InvalidTokenError,
  isCognitoIssuer,
  readBearerToken,
  readOidcSettings,
  type TokenVerifier,
} from '../../layer/src/http/token-verifier';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer';

const AUDIENCE = 'chatbot-api-test';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('OIDC token verification (jose, a local issuer)', () => {
  let issuer: LocalIssuer;
  let verify: TokenVerifier;

  beforeAll(async () => {
    issuer = await startLocalIssuer(AUDIENCE);
    verify = createOidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE });
  });
  afterAll(() => issuer.close());

  it.each(['RS256', 'ES256', 'EdDSA'] as const)('accepts a valid %s token, Bearer or bare, with sub as the user id', async (alg) => {
    // Prepare
    const token = await issuer.sign({ alg, claims: { sub: `user-${alg}` } });

    // Act
    const bearer = await verifyAuthorizationHeader(`Bearer ${token}`, verify);
    const bare = await verifyAuthorizationHeader(token, verify);

    // Assess
    expect(bearer.sub).toBe(`user-${alg}`);
    expect(bare.sub).toBe(`user-${alg}`);
  });

  const now = () => Math.floor(Date.now() / 1000);
  it.each<[string, () => Promise<string | undefined>, string]>([
    ['a wrong aud', () => issuer.sign({ claims: { aud: 'another-api' } }), 'Wrong token audience'],
    ['a wrong iss', () => issuer.sign({ claims: { iss: 'https://evil.example.com' } }), 'Wrong token issuer'],
    ['no aud', () => issuer.sign({ omit: ['aud'] }), 'Wrong token audience'],
    ['expired (past the 60 s skew)', () => issuer.sign({ claims: { iat: now() - 3600, exp: now() - 61 } }), 'Token expired'],
    ['no exp', () => issuer.sign({ omit: ['exp'] }), 'Token has no valid expiry'],
    ['nbf in the future (past the skew)', () => issuer.sign({ claims: { nbf: now() + 120 } }), 'Token not yet valid'],
    ['no sub', () => issuer.sign({ omit: ['sub'] }), 'Token has no subject'],
    ['NUL in sub', () => issuer.sign({ claims: { sub: 'eve\u0000' } }), 'Token subject is not valid Unicode text'],
    ['a lone surrogate in sub', () => issuer.sign({ claims: { sub: 'eve\ud800' } }), 'Token subject is not valid Unicode text'],
    ['an unknown kid', async () => (await issuer.unpublishedKey('RS256', 'not-published'))(), 'Unknown token signing key'],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: issuer.issuer, aud: AUDIENCE, sub: 'eve', exp: now() + 600 })}.`, 'Unsupported token algorithm'],
    ['an HS256 token (the local sign-in)', async () => signLocalToken('eve', { secret: 'local-dev-secret-change-me' }), 'Unsupported token algorithm'],
    [
      'HS256 signed with the issuer\'s public key as the secret',
      async () => {
        const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'rs256-1' })}.${b64({ iss: issuer.issuer, aud: AUDIENCE, sub: 'eve', exp: now() + 600 })}`;
        return `${input}.${createHmac('sha256', JSON.stringify(issuer.jwksUrl)).update(input).digest('base64url')}`;
      },
      'Unsupported token algorithm',
    ],
    [
      'a payload swapped after signing',
      async () => {
        const [header, , signature] = (await issuer.sign({ claims: { sub: 'alice' } })).split('.');
        return `${header}.${b64({ iss: issuer.issuer, aud: AUDIENCE, sub: 'mallory', exp: now() + 600 })}.${signature}`;
      },
      'Invalid token signature',
    ],
    ['garbage', async () => 'a.b.c', 'Malformed token'],
    ['a missing token', async () => undefined, 'Missing Authorization header'],
  ])('refuses %s (401)', async (_case, makeToken, message) => {
    // Act
    const token = await makeToken();
    const result = verifyAuthorizationHeader(token === undefined ? undefined : `Bearer ${token}`, verify);

    // Assess
    await expect(result).rejects.toThrow(InvalidTokenError);
    await expect(result).rejects.toThrow(message);
  });

  it('tolerates 60 s of clock skew on exp and nbf', async () => {
    const token = await issuer.sign({ claims: { iat: now() - 600, exp: now() - 30, nbf: now() + 30 } });
    expect((await verify(token)).sub).toBe('oidc-user');
  });

  it('requires the configured scopes, from scope (a string) or scp (an array or a string)', async () => {
    // Prepare
    const scoped = createOidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: issuer.jwksUrl, requiredScopes: ['chat', 'read'] });

    // Act + Assess
    expect((await scoped(await issuer.sign({ claims: { scope: 'openid chat read' } }))).sub).toBe('oidc-user');
    expect((await scoped(await issuer.sign({ claims: { scp: ['chat', 'read'] } }))).sub).toBe('oidc-user');
    expect((await scoped(await issuer.sign({ claims: { scp: 'read chat' } }))).sub).toBe('oidc-user');
    await expect(scoped(await issuer.sign({ claims: { scope: 'chat' } }))).rejects.toThrow('Token lacks a required scope');
    await expect(scoped(await issuer.sign({}))).rejects.toThrow('Token lacks a required scope');
  });

  it('takes a Cognito pool\'s access tokens by client_id (they have no aud) and refuses its ID tokens', async () => {
    // Prepare: a Cognito-shaped issuer whose keys the local issuer serves (OIDC_JWKS_URL), so nothing leaves the machine.
    const pool = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123';
    const cognito = createOidcVerifier({ issuer: pool, audience: 'app-client-1', jwksUrl: issuer.jwksUrl });
    const token = (claims: Record<string, unknown>, omit: string[] = ['aud']) => issuer.sign({ claims: { iss: pool, ...claims }, omit });

    // Act + Assess
    expect((await cognito(await token({ token_use: 'access', client_id: 'app-client-1' }))).sub).toBe('oidc-user');
    await expect(cognito(await token({ token_use: 'access', client_id: 'another-client' }))).rejects.toThrow('Wrong token audience');
    await expect(cognito(await token({ token_use: 'id', aud: 'app-client-1' }, []))).rejects.toThrow('Wrong token audience');
  });

  it('fetches the JWKS once per container for many verifications, and refetches for an unknown kid at most once per cooldown', async () => {
    // Prepare: a fresh issuer, so the counts are this test's alone; a short cooldown stands in for the minute.
    const own = await startLocalIssuer(AUDIENCE, ['RS256', 'ES256']);
    try {
      // Long enough that a loaded machine still verifies everything below inside one cooldown.
      const cooldownMs = 2500;
      const container = createOidcVerifier({ issuer: own.issuer, audience: AUDIENCE }, { cooldownMs });
      const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => own.sign({ alg: i % 2 ? 'ES256' : 'RS256', claims: { sub: `u${i}` } })));
      const stranger = await own.unpublishedKey('ES256', 'stranger');
      const strangerToken = await stranger();

      // Act: 50 verifications, 10 of them concurrent at the start, then an unknown kid inside the cooldown of that fetch.
      await Promise.all(tokens.slice(0, 10).map((token) => container(token)));
      for (const token of tokens.slice(10)) await container(token);
      await expect(container(strangerToken)).rejects.toThrow('Unknown token signing key');

      // Assess: one discovery, one JWKS fetch for all of it.
      expect(own.discoveryFetches()).toBe(1);
      expect(own.jwksFetches()).toBe(1);

      // Act: the issuer rotates in a new key; past the cooldown, five unknown kids in a row cost one refetch,
      // which also brings the new key: its tokens pass with no further fetch.
      const kid = await own.addKey('ES256', 'rotated');
      const rotated = await own.sign({ kid, claims: { sub: 'rotated-user' } });
      await sleep(cooldownMs + 100);
      for (let i = 0; i < 5; i += 1) await expect(container(strangerToken)).rejects.toThrow('Unknown token signing key');
      expect(own.jwksFetches()).toBe(2);
      expect((await container(rotated)).sub).toBe('rotated-user');
      expect(own.jwksFetches()).toBe(2);
      expect(own.discoveryFetches()).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('retries a failed discovery on the next verification instead of failing for the container\'s life, and its fault is not a 401', async () => {
    // Prepare: nothing listens on the issuer yet.
    const own = await startLocalIssuer(AUDIENCE, ['RS256']);
    const token = await own.sign({});
    const broken = createOidcVerifier({ issuer: own.issuer.replace(/:\d+$/, ':1'), audience: AUDIENCE });

    // Act + Assess
    const failed = broken(token);
    await expect(failed).rejects.toThrow();
    await expect(failed).rejects.not.toBeInstanceOf(InvalidTokenError);
    const healthy = createOidcVerifier({ issuer: own.issuer, audience: AUDIENCE });
    expect((await healthy(token)).sub).toBe('oidc-user');
    await own.close();
  });
});

describe('the Lambda authorizer handler (lambdas/authorizer)', () => {
  let issuer: LocalIssuer;
  const saved = { ...process.env };
  const methodArn = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/backend-api/conversations';
  const event = (authorizationToken: string): APIGatewayTokenAuthorizerEvent => ({ type: 'TOKEN', authorizationToken, methodArn });

  beforeAll(async () => {
    issuer = await startLocalIssuer(AUDIENCE, ['RS256']);
    process.env.OIDC_ISSUER = issuer.issuer;
    process.env.OIDC_AUDIENCE = AUDIENCE;
  });
  afterAll(async () => {
    process.env = saved;
    await issuer.close();
  });

  it('answers an Allow policy on the whole stage with sub as principal and context, and Unauthorized for a bad token', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/authorizer/index');
    const token = await issuer.sign({ claims: { sub: 'alice', scope: 'openid chat' } });

    // Act
    const allowed = await handler(event(`Bearer ${token}`));

    // Assess
    expect(allowed).toEqual({
      principalId: 'alice',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*' }] },
      context: { sub: 'alice', scope: 'openid chat' },
    });
    await expect(handler(event(await issuer.sign({ claims: { aud: 'other' } })))).rejects.toThrow(/^Unauthorized$/);
    await expect(handler(event(''))).rejects.toThrow(/^Unauthorized$/);
    await expect(handler(event(signLocalToken('alice')))).rejects.toThrow(/^Unauthorized$/);
    // One container: the JWKS was fetched once for all of these.
    expect(issuer.jwksFetches()).toBe(1);
  });

  it('gives the handlers the user id through getUserId, like Cognito\'s claims', () => {
    const context = allowPolicy({ sub: 'alice' }, methodArn);
    const lambdaEvent = { requestContext: { authorizer: { principalId: context.principalId, ...context.context, integrationLatency: 3 } } };
    expect(getUserId(lambdaEvent as unknown as APIGatewayProxyEvent)).toBe('alice');
    expect(getUserId({ requestContext: { authorizer: { claims: { sub: 'bob' } } } } as unknown as APIGatewayProxyEvent)).toBe('bob');
    // Cognito's claims win; a context sub beside claims without one is not taken.
    expect(() => getUserId({ requestContext: { authorizer: { claims: {}, sub: 'mallory' } } } as unknown as APIGatewayProxyEvent)).toThrow('Missing or invalid credentials');
    expect(() => getUserId({ requestContext: { authorizer: { principalId: 'x', sub: 'eve\u0000' } } } as unknown as APIGatewayProxyEvent)).toThrow('Missing or invalid credentials');
  });
});

describe('Authorization header and settings parsing', () => {
  it.each([['Bearer abc.def.ghi', 'abc.def.ghi'], ['bearer   abc.def.ghi ', 'abc.def.ghi'], ['abc.def.ghi', 'abc.def.ghi']])('reads %j', (header, token) => {
    expect(readBearerToken(header)).toBe(token);
  });

  it.each([[undefined], [''], ['Bearer'], ['Basic dXNlcjpwdw=='], ['Bearer a b'], [42]])('refuses %j', (header) => {
    expect(() => readBearerToken(header)).toThrow(InvalidTokenError);
  });

  it('reads OIDC_* and names the bad variable', () => {
    expect(readOidcSettings({})).toBeUndefined();
    expect(readOidcSettings({ OIDC_ISSUER: 'https://id.example.com/', OIDC_AUDIENCE: 'api', OIDC_REQUIRED_SCOPES: 'a, b c' })).toEqual({
      issuer: 'https://id.example.com/',
      audience: 'api',
      jwksUrl: undefined,
      requiredScopes: ['a', 'b', 'c'],
    });
    expect(() => readOidcSettings({ OIDC_ISSUER: 'http://id.example.com', OIDC_AUDIENCE: 'api' })).toThrow('OIDC_ISSUER');
    expect(() => readOidcSettings({ OIDC_ISSUER: 'https://id.example.com' })).toThrow('OIDC_AUDIENCE');
    expect(() => readOidcSettings({ OIDC_ISSUER: 'https://id.example.com', OIDC_AUDIENCE: 'api', OIDC_JWKS_URL: 'ftp://x' })).toThrow('OIDC_JWKS_URL');
  });

  it('knows a Cognito issuer, whose access tokens carry client_id instead of aud', () => {
    expect(isCognitoIssuer('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123')).toBe(true);
    expect(isCognitoIssuer('https://login.example.com/eu-west-1_AbC123')).toBe(false);
  });
});

describe('npm start in OIDC mode (the local server with OIDC settings)', () => {
  let issuer: LocalIssuer;
  let server: LocalServer;
  const seen: APIGatewayProxyEvent[] = [];

  beforeAll(async () => {
    issuer = await startLocalIssuer(AUDIENCE, ['RS256', 'ES256']);
    // Every function answers with the user id the layer's getUserId reads (401 when there is none, as the real handlers do).
    const whoami = async (event: APIGatewayProxyEvent) => {
      seen.push(event);
      if (event.resource === '/backend-api/share/{share_id}') return jsonResponse(404, JSON.stringify({ detail: 'not found' }));
      return jsonResponse(200, JSON.stringify({ user: getUserId(event) }));
    };
    const handlers = Object.fromEntries((Object.keys(API_FUNCTIONS) as ApiFunctionName[]).map((name) => [name, whoami])) as unknown as LocalHandlers;
    server = await startLocalServer({ port: 0, handlers, webClient: false, oidc: { issuer: issuer.issuer, audience: AUDIENCE }, log: () => undefined });
  });
  afterAll(async () => {
    await server.close();
    await issuer.close();
  });

  const list = (authorization?: string) => fetch(`${server.url}/backend-api/conversations`, { headers: authorization ? { Authorization: authorization } : {} });

  it('accepts only the issuer\'s tokens, Bearer or bare, and hands sub to the handler as the deployed authorizer does', async () => {
    // Act
    const bearer = await list(`Bearer ${await issuer.sign({ alg: 'ES256', claims: { sub: 'carol' } })}`);
    const bare = await list(await issuer.sign({ claims: { sub: 'dave' } }));
    const hs256 = await list(`Bearer ${signLocalToken('carol')}`);
    const missing = await list();
    const wrongAudience = await list(`Bearer ${await issuer.sign({ claims: { aud: 'x' } })}`);

    // Assess
    expect([bearer.status, await bearer.json()]).toEqual([200, { user: 'carol' }]);
    expect([bare.status, await bare.json()]).toEqual([200, { user: 'dave' }]);
    expect(seen.at(-1)!.requestContext.authorizer).toMatchObject({ principalId: 'dave', sub: 'dave' });
    for (const refused of [hs256, missing, wrongAudience]) {
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      expect(await refused.json()).toEqual({ detail: { message: 'Unauthorized', code: 'unauthorized' } });
    }
    expect(issuer.jwksFetches()).toBe(1);
  });

  it('keeps the public routes of the route table token-free', async () => {
    const res = await fetch(`${server.url}/backend-api/share/some-share`);
    expect(res.status).toBe(404);
    expect(seen.at(-1)!.requestContext.authorizer).toBeUndefined();
  });
});
