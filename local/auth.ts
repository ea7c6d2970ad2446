/**
 * The local stand-in for API Gateway's Cognito user-pool authorizer: HS256 JWTs signed with a
 * shared secret instead of Cognito's RS256 keys, with the same outcome: the token's claims
 * (`sub` = user id) reach the handler in `requestContext.authorizer.claims`, and a bad token
 * is rejected with 401 before any Lambda runs.
 */
import { createHmac } from 'node:crypto';
import { readBearerToken, verifySharedSecretToken, type VerifiedClaims } from '../layer/src/http/token-verifier';
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

export { InvalidTokenError, type VerifiedClaims } from '../layer/src/http/token-verifier';

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
 * Verifies a local sign-in token with `jose`: exactly HS256 (no `none`, no algorithm switching),
 * then a finite `exp` no further ahead than the maximum lifetime, `nbf` (both with a small
 * leeway) and a non-empty `sub` that can be stored as itself.
 * @throws InvalidTokenError
 */
export function verifyLocalToken(token: string, options: VerifyTokenOptions = {}): Promise<VerifiedClaims> {
  return verifySharedSecretToken(token, {
    secret: options.secret ?? getLocalJwtSecret(),
    maxLifetimeSeconds: options.maxLifetimeSeconds ?? getLocalJwtMaxLifetimeSeconds(),
    clockToleranceSeconds: CLOCK_LEEWAY_SECONDS,
    now: options.now,
  });
}

/**
 * Authenticates an `Authorization` header value (`Bearer <jwt>`, or the bare token, as the
 * OIDC authorizer accepts) against the local secret.
 * @throws InvalidTokenError when missing or invalid
 */
export async function authenticateAuthorizationHeader(value: string | undefined, options: Omit<VerifyTokenOptions, 'now'> = {}): Promise<VerifiedClaims> {
  return verifyLocalToken(readBearerToken(value), options);
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
