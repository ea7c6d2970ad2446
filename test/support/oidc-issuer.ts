/**
 * A local OpenID Connect issuer speaking the real protocol over HTTP on a loopback port: its
 * discovery document (`/.well-known/openid-configuration`) and its JWKS (`/jwks`), with RS256,
 * ES256 and EdDSA signing keys. It counts the JWKS fetches, so tests and the bench can say how
 * often a verifier goes to the network. Keys can be added (a rotation) after start.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type IssuerAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

interface SigningKey {
  readonly kid: string;
  readonly alg: IssuerAlgorithm;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export interface LocalIssuer {
  /** The issuer URL (the `iss` of its tokens), e.g. `http://127.0.0.1:40123`. */
  readonly issuer: string;
  /** Its JWKS URL. */
  readonly jwksUrl: string;
  /** JWKS fetches served so far. */
  jwksFetches(): number;
  /** Discovery document fetches served so far. */
  discoveryFetches(): number;
  /** Generates a key, published in the JWKS from now on. */
  addKey(alg: IssuerAlgorithm, kid?: string): Promise<string>;
  /** Signs a token with the key `kid` (or the first key of `alg`); `claims` override the defaults (iss, aud, sub, iat, exp = now + 600). */
  sign(options: { alg?: IssuerAlgorithm; kid?: string; claims?: JWTPayload; header?: Record<string, unknown>; omit?: readonly string[] }): Promise<string>;
  /** A key of `alg` that is not published: tokens it signs name a kid the JWKS lacks. */
  unpublishedKey(alg: IssuerAlgorithm, kid: string): Promise<(claims?: JWTPayload) => Promise<string>>;
  close(): Promise<void>;
}

/** Starts an issuer whose tokens carry `aud` = `audience`, with one key of each algorithm. */
export async function startLocalIssuer(audience: string, algorithms: readonly IssuerAlgorithm[] = ['RS256', 'ES256', 'EdDSA']): Promise<LocalIssuer> {
  const keys: SigningKey[] = [];
  let jwksFetches = 0;
  let discoveryFetches = 0;
  let base = '';
  const server: Server = createServer((req, res) => {
    const send = (body: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      discoveryFetches += 1;
      send({ issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'] });
    } else if (req.url === '/jwks') {
      jwksFetches += 1;
      send({ keys: keys.map((key) => key.jwk) });
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const makeKey = async (alg: IssuerAlgorithm, kid: string): Promise<SigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
  };
  const signWith = async (key: SigningKey, options: { claims?: JWTPayload; header?: Record<string, unknown>; omit?: readonly string[] }) => {
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = { iss: base, aud: audience, sub: 'oidc-user', iat: now, exp: now + 600, ...options.claims };
    for (const name of options.omit ?? []) delete payload[name];
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header }).sign(key.privateKey);
  };

  const issuer: LocalIssuer = {
    issuer: base,
    jwksUrl: `${base}/jwks`,
    jwksFetches: () => jwksFetches,
    discoveryFetches: () => discoveryFetches,
    addKey: async (alg, kid = `${alg.toLowerCase()}-${keys.length + 1}`) => {
      keys.push(await makeKey(alg, kid));
      return kid;
    },
    sign: async ({ alg, kid, claims, header, omit }) => {
      const key = keys.find((candidate) => (kid ? candidate.kid === kid : candidate.alg === (alg ?? 'RS256')));
      if (!key) throw new Error(`no key ${kid ?? alg}`);
      return signWith(key, { claims, header, omit });
    },
    unpublishedKey: async (alg, kid) => {
      const key = await makeKey(alg, kid);
      return (claims) => signWith(key, { claims });
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  for (const alg of algorithms) await issuer.addKey(alg);
  return issuer;
}
