/** GET /backend-api/conversations/search: the caller's conversations matching a query, best first (docs/api.md#search). */
import middy from '@middy/core';
import { getUserId, httpMiddlewares, jsonResponse, searchConversations } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseSearchConversationsRequest } from './schema';

const searchConversationsHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const request = parseSearchConversationsRequest(event);
  const body = await searchConversations({ ...request, userId: getUserId(event) });
  return jsonResponse(200, body);
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(searchConversationsHandler).use(httpMiddlewares());
