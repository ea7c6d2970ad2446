/**
 * The local stand-in for API Gateway's Cognito user-pool authorizer: HS256 JWTs signed with a
 * shared secret instead of Cognito's RS256 keys, with the same outcome: the token's claims
 * (`sub` = user id) reach the handler in `requestContext.authorizer.claims`, and a bad token
 * is rejected with 401 before any Lambda runs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LocalStartError } from './start-error';

/** Documented development default; anyone can mint tokens with it, so never expose the local server. */
export const DEFAULT_LOCAL_JWT_SECRET = 'local-dev-secret-change-me';
/** Tolerated clock difference for `exp`/`nbf`, in seconds. */
const CLOCK_LEEWAY_SECONDS = 30;
/** Token lifetime of {@link signLocalToken}: 24 h. */
export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 60 * 60;
/** Longest accepted remaining lifetime (`exp` − now) unless `LOCAL_JWT_MAX_LIFETIME_SECONDS` says otherwise: 7 days. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 7 * 24 * 60 * 60;

/** The secret from `LOCAL_JWT_SECRET`, or the documented default. */
export function getLocalJwtSecret(env: NodeJS.ProcessEnv = process.env): string {
  const secret = env.LOCAL_JWT_SECRET?.trim();
  return secret ? secret : DEFAULT_LOCAL_JWT_SECRET;
}

/** Whether `host` (a HOST value or a Host header's name) names this machine's loopback interface only. */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name) || /^::ffff:127(\.\d{1,3}){3}$/.test(name);
}

/**
 * Refuses to serve beyond this machine with the documented default secret: anyone who can reach
 * the port could mint a token for any user with it.
 * @throws LocalStartError saying what to set
 */
export function assertSafeBinding(host: string, secret: string): void {
  if (isLoopbackHost(host) || secret !== DEFAULT_LOCAL_JWT_SECRET) return;
  throw new LocalStartError(
    `HOST=${host} serves beyond this machine, and LOCAL_JWT_SECRET is the documented default anyone can sign tokens with: ` +
      'set LOCAL_JWT_SECRET to a long random value (e.g. LOCAL_JWT_SECRET=$(openssl rand -hex 32)), or unset HOST to listen on 127.0.0.1.',
  );
}

/**
 * `LOCAL_JWT_MAX_LIFETIME_SECONDS`, or 7 days: a token whose `exp` lies further ahead is
 * refused, so a leaked token (or one minted with `exp: 1e308`) cannot live forever.
 * @throws Error naming the variable when it is not a positive integer
 */
export function getLocalJwtMaxLifetimeSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LOCAL_JWT_MAX_LIFETIME_SECONDS?.trim();
  if (!raw) return DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`Invalid configuration: LOCAL_JWT_MAX_LIFETIME_SECONDS=${JSON.stringify(raw)} (expected a positive integer of seconds)`);
  }
  return value;
}

/** Whether `sub` can be stored as itself: no NUL (Postgres text), no lone surrogate (stored as U+FFFD, so two subs would collide). */
export function isStorableSubject(sub: unknown): sub is string {
  return typeof sub === 'string' && sub !== '' && !sub.includes('\u0000') && sub.isWellFormed();
}

/** Why a token was refused; the message is safe to return to the client. */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

/** Claims of a verified token; `sub` is always a non-empty string. */
export interface VerifiedClaims {
  readonly sub: string;
  readonly [claim: string]: unknown;
}

/** Options of {@link signLocalToken}. */
export interface SignTokenOptions {
  /** HMAC secret. @default getLocalJwtSecret() */
  readonly secret?: string;
  /** Lifetime in seconds. @default 86400 */
  readonly expiresInSeconds?: number;
  /** Extra claims (e.g. `email`). @default {} */
  readonly claims?: Record<string, unknown>;
  /** Issue time, epoch seconds (tests). @default now */
  readonly now?: number;
}

/** Signs an HS256 JWT whose `sub` is `userId`. */
export function signLocalToken(userId: string, options: SignTokenOptions = {}): string {
  if (!userId) throw new Error('userId must be a non-empty string');
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const header = { alg: 'HS256', typ: 'JWT' };
  const payload = {
    ...options.claims,
    sub: userId,
    iat: now,
    exp: now + (options.expiresInSeconds ?? DEFAULT_TOKEN_TTL_SECONDS),
    iss: 'chatbot-api-local',
    token_use: 'access',
  };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return `${signingInput}.${hmac(signingInput, options.secret ?? getLocalJwtSecret())}`;
}

/** Options of {@link verifyLocalToken}. */
export interface VerifyTokenOptions {
  /** HMAC secret. @default getLocalJwtSecret() */
  readonly secret?: string;
  /** Longest accepted `exp` − now, in seconds. @default getLocalJwtMaxLifetimeSeconds() */
  readonly maxLifetimeSeconds?: number;
  /** Current time, epoch seconds (tests). @default now */
  readonly now?: number;
}

/**
 * Verifies a compact JWS: exactly HS256 (no `none`, no algorithm switching), a constant-time
 * signature check, then a finite `exp` no further ahead than the maximum lifetime, `nbf`
 * (both with a small leeway) and a non-empty `sub` that can be stored as itself.
 * @throws InvalidTokenError
 */
export function verifyLocalToken(token: string, options: VerifyTokenOptions = {}): VerifiedClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw new InvalidTokenError('Malformed token');
  const [encodedHeader, encodedPayload, signature] = parts;
  const header = parseJsonSegment(encodedHeader);
  // The algorithm is fixed by the server, never chosen by the token.
  if (header.alg !== 'HS256') throw new InvalidTokenError('Unsupported token algorithm');
  const expected = Buffer.from(hmac(`${encodedHeader}.${encodedPayload}`, options.secret ?? getLocalJwtSecret()));
  const actual = Buffer.from(signature);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new InvalidTokenError('Invalid token signature');
  const claims = parseJsonSegment(encodedPayload);
  const now = options.now ?? Date.now() / 1000;
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new InvalidTokenError('Token has no valid expiry');
  if (now > claims.exp + CLOCK_LEEWAY_SECONDS) throw new InvalidTokenError('Token expired');
  const maxLifetime = options.maxLifetimeSeconds ?? getLocalJwtMaxLifetimeSeconds();
  if (claims.exp - now > maxLifetime + CLOCK_LEEWAY_SECONDS) throw new InvalidTokenError('Token lifetime exceeds the allowed maximum');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || now < claims.nbf - CLOCK_LEEWAY_SECONDS)) {
    throw new InvalidTokenError('Token not yet valid');
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new InvalidTokenError('Token has no subject');
  if (!isStorableSubject(claims.sub)) throw new InvalidTokenError('Token subject is not valid Unicode text');
  return claims as VerifiedClaims;
}

/**
 * Authenticates an `Authorization` header value (`Bearer <jwt>`).
 * @throws InvalidTokenError when missing or invalid
 */
export function authenticateAuthorizationHeader(value: string | undefined, options: Omit<VerifyTokenOptions, 'now'> = {}): VerifiedClaims {
  if (!value) throw new InvalidTokenError('Missing Authorization header');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!match) throw new InvalidTokenError('Authorization header must be "Bearer <token>"');
  return verifyLocalToken(match[1], options);
}

/** Cognito hands every claim to the integration as a string; so does the emulator. */
export function toAuthorizerClaims(claims: VerifiedClaims): Record<string, string> {
  return Object.fromEntries(
    Object.entries(claims).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
}

function hmac(input: string, secret: string): string {
  return createHmac('sha256', secret).update(input).digest('base64url');
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function parseJsonSegment(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidTokenError('Malformed token');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new InvalidTokenError('Malformed token');
  return value as Record<string, unknown>;
}
