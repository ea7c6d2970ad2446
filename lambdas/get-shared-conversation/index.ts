/**
 * GET /backend-api/share/{share_id}, no token (a public route): the shared branch, cache-aside
 * in `share:{id}` with the single-flight fill; `Cache-Control: public, max-age=60` lets a CDN
 * absorb a spike of readers (docs/api.md#share-links). It never reads a caller's identity.
 */
import middy from '@middy/core';
import { getSharedConversation, httpMiddlewares, jsonResponse, SHARED_CONVERSATION_MAX_AGE_SECONDS } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseGetSharedConversationRequest } from './schema';

const getSharedConversationHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const { shareId } = parseGetSharedConversationRequest(event);
  const { body, cacheStatus } = await getSharedConversation({ shareId });
  return jsonResponse(200, body, { 'X-Cache': cacheStatus, 'Cache-Control': `public, max-age=${SHARED_CONVERSATION_MAX_AGE_SECONDS}` });
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(getSharedConversationHandler).use(httpMiddlewares());
