/**
 * The REST API's Lambda authorizer in `authMode=oidc` (TOKEN type, `Authorization` header):
 * verifies the caller's access token against `OIDC_ISSUER`'s keys and answers an Allow policy
 * whose context carries the user id, or a 401. No middy: an authorizer's answer is a policy,
 * not an HTTP response, so none of the HTTP middlewares apply.
 */
import { authorizeToken } from '@chatbot/shared';
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';

export const handler = (event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => authorizeToken(event);
