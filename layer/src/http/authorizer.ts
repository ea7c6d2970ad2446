/**
 * The REST API's Lambda authorizer in `authMode=oidc` (a TOKEN authorizer on the
 * `Authorization` header; API Gateway caches its answer per token): verifies the token with
 * {@link createOidcVerifier} and allows the caller on every method of the stage, with the user id
 * (`sub`) as the principal and in the context the handlers read ({@link getUserId}).
 */
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { logger } from '../platform/observability';
import { createOidcVerifier, InvalidTokenError, readBearerToken, readOidcSettings, type TokenVerifier, type VerifiedClaims } from './token-verifier';

/** What API Gateway turns into a 401 when an authorizer throws it (any other error is a 500). */
const UNAUTHORIZED = 'Unauthorized';

let verifier: TokenVerifier | undefined;
/** The container's verifier, from `OIDC_*` (read once; a bad value fails every call, naming the variable). */
function containerVerifier(): TokenVerifier {
  if (verifier) return verifier;
  const settings = readOidcSettings(process.env);
  if (!settings) throw new Error('Invalid configuration: OIDC_ISSUER is not set (the authorizer verifies that issuer\'s tokens)');
  return (verifier = createOidcVerifier(settings));
}

/**
 * The context an authorizer hands to the integration: API Gateway keeps only string, number and
 * boolean values, and puts them beside `principalId` in `requestContext.authorizer`.
 */
export function authorizerContext(claims: VerifiedClaims): Record<string, string> {
  const context: Record<string, string> = { sub: claims.sub };
  for (const name of ['scope', 'client_id', 'email'] as const) {
    const value = claims[name];
    if (typeof value === 'string') context[name] = value;
  }
  return context;
}

/** An Allow policy on every method of the stage the request reached: the cached answer applies to the token's later calls to any route. */
export function allowPolicy(claims: VerifiedClaims, methodArn: string): APIGatewayAuthorizerResult & { context: Record<string, string> } {
  // arn:aws:execute-api:region:account:apiId/stage/METHOD/path → arn:aws:execute-api:region:account:apiId/stage/*
  const [apiArn, stage] = methodArn.split('/');
  return {
    principalId: claims.sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${apiArn}/${stage}/*` }],
    },
    context: authorizerContext(claims),
  };
}

/**
 * Verifies the token of a TOKEN authorizer event.
 * @returns the caller's claims
 * @throws InvalidTokenError for a missing or unacceptable token; anything else (the issuer unreachable) is a fault
 */
export async function verifyAuthorizationHeader(header: unknown, verify: TokenVerifier = containerVerifier()): Promise<VerifiedClaims> {
  return verify(readBearerToken(header));
}

/**
 * The authorizer's handler body: an Allow policy for a good token; `Error('Unauthorized')` (a 401)
 * for a missing or bad one, with the reason logged; a fault (discovery or JWKS unreachable)
 * propagates, which API Gateway answers with a 500.
 */
export async function authorizeToken(event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  try {
    const claims = await verifyAuthorizationHeader(event.authorizationToken);
    return allowPolicy(claims, event.methodArn);
  } catch (error) {
    if (!(error instanceof InvalidTokenError)) {
      logger.error('Authorizer failed', { error });
      throw error;
    }
    logger.info('Token rejected', { reason: error.message });
    throw new Error(UNAUTHORIZED);
  }
}
