/**
 * Access-token verification with `jose`, for any OpenID Connect provider (Auth0, Okta, Entra ID,
 * Keycloak, a Cognito pool): the deployed Lambda authorizer (`http/authorizer.ts`) and the local
 * server in OIDC mode run this same code. The signature is checked against the issuer's JWKS
 * (discovered from `/.well-known/openid-configuration` unless given), fetched once per container
 * and refetched for an unknown `kid` at most once per cooldown; `iss`, `aud` and `exp` are
 * required, `nbf` is honoured, with a 60 s clock tolerance; the user id is `sub`, which must be
 * text Postgres and Redis store as itself. `jose` is loaded on first use, so only the functions
 * that verify tokens load it.
 */
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { isStorableText } from './validation';

/** Why a token was refused (a 401); the message is safe to log and to return. */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

/** Claims of a verified token; `sub` is always a non-empty string stored as itself. */
export interface VerifiedClaims {
  readonly sub: string;
  readonly [claim: string]: unknown;
}

/** Verifies one compact JWT. @throws InvalidTokenError for a token that is not acceptable; anything else (the issuer unreachable) is a server fault. */
export type TokenVerifier = (token: string) => Promise<VerifiedClaims>;

/** The issuer whose tokens the API accepts, and what it requires of them. */
export interface OidcSettings {
  /** The `iss` value, exactly (an https URL; http only on a loopback host, for tests and local runs). */
  readonly issuer: string;
  /** The `aud` value the API's tokens carry; for a Cognito issuer, the app client id, which its access tokens carry as `client_id`. */
  readonly audience: string;
  /** The JWKS URL. @default the `jwks_uri` of `${issuer}/.well-known/openid-configuration` */
  readonly jwksUrl?: string;
  /** Scopes every token must have (`scope`, space-separated, or `scp`, an array or a space-separated string). @default none */
  readonly requiredScopes?: readonly string[];
}

/** Tolerated clock difference for `exp`/`nbf`, in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 60;
/** Least time between two JWKS fetches caused by an unknown `kid`. */
export const JWKS_COOLDOWN_MS = 60_000;
/** How long one discovery or JWKS fetch may take. */
const FETCH_TIMEOUT_MS = 5_000;
/** The signature algorithms an issuer may use; the token's header cannot pick another (no `none`, no HMAC with a public key). */
export const OIDC_ALGORITHMS: readonly string[] = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];

type Jose = typeof import('jose');
let josePromise: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (josePromise ??= import('jose'));

/** Whether `url` is an https URL, or http on this machine's loopback interface. */
export function isAcceptableIssuerUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password || parsed.hash) return false;
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && /^(127(\.\d{1,3}){3}|localhost|\[::1\])$/.test(parsed.hostname);
}

/** A Cognito user pool's issuer: its access tokens carry the app client id as `client_id`, not `aud`. */
export const isCognitoIssuer = (issuer: string): boolean => /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com\/[\w-]+_[0-9a-zA-Z]+$/.test(issuer);

/**
 * The OIDC settings from `OIDC_ISSUER`, `OIDC_AUDIENCE`, `OIDC_JWKS_URL` and `OIDC_REQUIRED_SCOPES`
 * (comma- or space-separated), or `undefined` when `OIDC_ISSUER` is unset.
 * @throws Error naming the variable when a value is missing or malformed
 */
export function readOidcSettings(env: NodeJS.ProcessEnv = process.env): OidcSettings | undefined {
  const issuer = env.OIDC_ISSUER?.trim();
  if (!issuer) return undefined;
  const audience = env.OIDC_AUDIENCE?.trim();
  const jwksUrl = env.OIDC_JWKS_URL?.trim() || undefined;
  const bad = (name: string, value: string | undefined, expected: string) =>
    new Error(`Invalid configuration: ${name}=${JSON.stringify(value ?? '')} (expected ${expected})`);
  if (!isAcceptableIssuerUrl(issuer)) throw bad('OIDC_ISSUER', issuer, 'an https URL, the exact iss of the tokens');
  if (!audience) throw bad('OIDC_AUDIENCE', audience, 'the aud the tokens carry, set with OIDC_ISSUER');
  if (jwksUrl !== undefined && !isAcceptableIssuerUrl(jwksUrl)) throw bad('OIDC_JWKS_URL', jwksUrl, 'an https URL');
  const requiredScopes = (env.OIDC_REQUIRED_SCOPES ?? '').split(/[\s,]+/).filter(Boolean);
  return { issuer, audience, jwksUrl, requiredScopes };
}

/**
 * The token of an `Authorization` header: `Bearer <token>` (what ChatGPT-style clients send) or
 * the bare token.
 * @throws InvalidTokenError when missing or not one token
 */
export function readBearerToken(header: unknown): string {
  if (typeof header !== 'string' || header.trim() === '') throw new InvalidTokenError('Missing Authorization header');
  const match = /^\s*(?:Bearer\s+)?([A-Za-z0-9_.~+/=-]+)\s*$/i.exec(header);
  if (!match || /^bearer$/i.test(match[1])) throw new InvalidTokenError('Authorization header must be "Bearer <token>" or the token');
  return match[1];
}

/** Options of {@link createOidcVerifier}. */
export interface OidcVerifierOptions {
  /** Least time between two JWKS fetches caused by an unknown `kid`, ms. @default 60000 */
  readonly cooldownMs?: number;
  /** Tolerated clock difference, seconds. @default 60 */
  readonly clockToleranceSeconds?: number;
}

/**
 * A verifier of `settings.issuer`'s tokens. The discovery document and the JWKS are fetched on
 * the first verification and kept for the life of the verifier (one per container); a failed
 * discovery is retried by the next verification.
 */
export function createOidcVerifier(settings: OidcSettings, options: OidcVerifierOptions = {}): TokenVerifier {
  let keysPromise: Promise<JWTVerifyGetKey> | undefined;
  const keys = (): Promise<JWTVerifyGetKey> => {
    keysPromise ??= (async () => {
      const jose = await loadJose();
      const jwksUrl = settings.jwksUrl ?? (await discoverJwksUrl(settings.issuer));
      return jose.createRemoteJWKSet(new URL(jwksUrl), {
        cooldownDuration: options.cooldownMs ?? JWKS_COOLDOWN_MS,
        timeoutDuration: FETCH_TIMEOUT_MS,
      });
    })().catch((error: unknown) => {
      keysPromise = undefined;
      throw error;
    });
    return keysPromise;
  };
  const cognito = isCognitoIssuer(settings.issuer);
  const requiredScopes = settings.requiredScopes ?? [];
  return async (token) => {
    const jose = await loadJose();
    const getKey = await keys();
    const payload = await mapJoseErrors(async () => {
      const { payload: verified } = await jose.jwtVerify(token, getKey, {
        issuer: settings.issuer,
        // A Cognito access token names its app client in client_id and has no aud: checked below.
        audience: cognito ? undefined : settings.audience,
        algorithms: [...OIDC_ALGORITHMS],
        clockTolerance: options.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iss', 'sub'],
      });
      return verified;
    });
    if (cognito && !hasCognitoAudience(payload, settings.audience)) throw new InvalidTokenError('Wrong token audience');
    const granted = grantedScopes(payload);
    if (requiredScopes.some((scope) => !granted.has(scope))) throw new InvalidTokenError('Token lacks a required scope');
    return checkedClaims(payload);
  };
}

/** Options of {@link verifySharedSecretToken}. */
export interface SharedSecretOptions {
  readonly secret: string;
  /** Longest accepted `exp` − now, seconds. */
  readonly maxLifetimeSeconds: number;
  /** Tolerated clock difference, seconds. @default 30 */
  readonly clockToleranceSeconds?: number;
  /** Current time, epoch seconds (tests). @default now */
  readonly now?: number;
}

/**
 * Verifies an HS256 token signed with a shared secret (the local server's sign-in): exactly
 * HS256, a finite `exp` no further ahead than the maximum lifetime, `nbf`, a storable `sub`.
 * @throws InvalidTokenError
 */
export async function verifySharedSecretToken(token: string, options: SharedSecretOptions): Promise<VerifiedClaims> {
  const jose = await loadJose();
  const tolerance = options.clockToleranceSeconds ?? 30;
  const now = options.now ?? Date.now() / 1000;
  const payload = await mapJoseErrors(async () => {
    const { payload: verified } = await jose.jwtVerify(token, new TextEncoder().encode(options.secret), {
      algorithms: ['HS256'],
      clockTolerance: tolerance,
      currentDate: new Date(now * 1000),
      requiredClaims: ['exp'],
    });
    return verified;
  });
  if (typeof payload.exp !== 'number' || payload.exp - now > options.maxLifetimeSeconds + tolerance) {
    throw new InvalidTokenError('Token lifetime exceeds the allowed maximum');
  }
  return checkedClaims(payload);
}

async function discoverJwksUrl(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`OIDC discovery failed: ${url} answered ${response.status}`);
  const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked for.
  if (document.issuer !== issuer) throw new Error(`OIDC discovery failed: ${url} names issuer ${JSON.stringify(document.issuer)}, not ${issuer}`);
  if (typeof document.jwks_uri !== 'string' || !isAcceptableIssuerUrl(document.jwks_uri)) {
    throw new Error(`OIDC discovery failed: ${url} has no https jwks_uri`);
  }
  return document.jwks_uri;
}

/** jose's token errors become 401s with a stable message; anything else (a JWKS fetch failing) propagates. */
async function mapJoseErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const claim = (error as { claim?: unknown })?.claim;
    const reason = (error as { reason?: unknown })?.reason;
    switch (code) {
      case 'ERR_JWT_EXPIRED':
        throw new InvalidTokenError('Token expired');
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
      case 'ERR_JOSE_NOT_SUPPORTED':
        throw new InvalidTokenError('Unsupported token algorithm');
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        throw new InvalidTokenError('Invalid token signature');
      case 'ERR_JWKS_NO_MATCHING_KEY':
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        throw new InvalidTokenError('Unknown token signing key');
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
        throw new InvalidTokenError('Malformed token');
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        if (claim === 'exp') throw new InvalidTokenError('Token has no valid expiry');
        if (claim === 'nbf') throw new InvalidTokenError('Token not yet valid');
        if (claim === 'iss') throw new InvalidTokenError('Wrong token issuer');
        if (claim === 'aud') throw new InvalidTokenError('Wrong token audience');
        if (claim === 'sub') throw new InvalidTokenError('Token has no subject');
        throw new InvalidTokenError(`Invalid token claim ${String(claim)} (${String(reason)})`);
      default:
        throw error;
    }
  }
}

function checkedClaims(payload: JWTPayload): VerifiedClaims {
  const sub: unknown = payload.sub;
  if (typeof sub !== 'string' || sub === '') throw new InvalidTokenError('Token has no subject');
  if (!isStorableText(sub)) throw new InvalidTokenError('Token subject is not valid Unicode text');
  return payload as VerifiedClaims;
}

/**
 * A Cognito pool's access token names its app client in `client_id` and has no `aud` (its ID
 * token has `aud`); like the Cognito authorizer of `authMode=cognito`, only access tokens pass.
 */
function hasCognitoAudience(payload: JWTPayload, audience: string): boolean {
  return payload.token_use === 'access' && payload.client_id === audience;
}

/** `scope` (RFC 8693/9068: space-separated) or `scp` (Okta: an array; Entra ID: space-separated). */
function grantedScopes(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  for (const value of [payload.scope, payload.scp]) {
    if (typeof value === 'string') for (const scope of value.split(' ')) if (scope) scopes.add(scope);
    if (Array.isArray(value)) for (const scope of value) if (typeof scope === 'string') scopes.add(scope);
  }
  return scopes;
}
