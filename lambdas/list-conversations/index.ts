/** GET /backend-api/conversations: the caller's conversations, newest first, cache-aside. */
import middy from '@middy/core';
import {
  getUserId,
  httpMiddlewares,
  jsonResponse,
  listConversations,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseListConversationsRequest } from './schema';

const listConversationsHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const { offset, limit, isArchived } = parseListConversationsRequest(event);
  const userId = getUserId(event);
  const { body, cacheStatus } = await listConversations({ userId, offset, limit, isArchived });
  return jsonResponse(200, body, { 'X-Cache': cacheStatus });
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(listConversationsHandler).use(httpMiddlewares());
